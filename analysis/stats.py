"""Seed statistics: is a row's difference from its baseline within seed-to-seed noise?

Pure Python (no scipy needed, so every environment prints the same tables); the Student t
distribution for integer degrees of freedom has a closed form (Abramowitz & Stegun 26.7.3-4).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALPHA = 0.05
_EPS = 1e-12


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def sample_std(xs: Sequence[float]) -> float | None:
    """Standard deviation with Bessel's correction; ``None`` for fewer than two values."""
    if len(xs) < 2:
        return None
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` (integer >= 1) degrees of freedom (scipy)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    from scipy import stats

    return float(2 * stats.t.sf(abs(t), df))


@dataclass(frozen=True)
class NoiseVerdict:
    """Outcome of comparing a row's cell with its baseline cell.

    Attributes:
        within_noise: ``True`` when the difference is not distinguishable from seed noise,
            ``False`` when it is, ``None`` when it cannot be told (one seed on each side).
        test: ``"paired-t"`` (>= 2 shared seeds), ``"pooled-std"`` (|delta| <= pooled std),
            or ``"none"``.
        delta: row mean minus baseline mean (printed units).
        p_value: two-sided p of the paired t-test (``paired-t`` only).
        n_shared: number of seeds present in both cells.
        threshold: the pooled standard deviation (``pooled-std`` only).
    """

    within_noise: bool | None
    test: str
    delta: float
    p_value: float | None = None
    n_shared: int = 0
    threshold: float | None = None


def paired_t(diffs: Sequence[float]) -> tuple[float, float]:
    """t statistic and two-sided p of a paired t-test on per-seed differences (n >= 2)."""
    n = len(diffs)
    if n < 2:
        raise ValueError("a paired t-test needs at least two differences")
    m = mean(diffs)
    sd = sample_std(diffs) or 0.0
    scale = max(1.0, max(abs(d) for d in diffs))
    if sd <= _EPS * scale:
        # Identical differences: no spread to test against, the sign alone decides.
        return (0.0, 1.0) if abs(m) <= _EPS * scale else (math.copysign(math.inf, m), 0.0)
    t = m / (sd / math.sqrt(n))
    return t, t_two_sided_p(t, n - 1)


def pooled_std(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pooled standard deviation of two samples; ``None`` without a degree of freedom."""
    dof = len(a) + len(b) - 2
    if dof < 1 or (len(a) < 2 and len(b) < 2):
        return None
    ss = sum((x - mean(a)) ** 2 for x in a) + sum((x - mean(b)) ** 2 for x in b)
    return math.sqrt(ss / dof)


def noise_verdict(values: Mapping[int, float], baseline: Mapping[int, float],
                  alpha: float = ALPHA) -> NoiseVerdict:
    """Is ``values`` (seed -> value) different from ``baseline`` beyond seed noise?

    With at least two shared seeds: paired t-test over the shared seeds, within noise when
    p >= ``alpha``. Otherwise: within noise when |mean difference| <= pooled standard
    deviation (needs at least two seeds on one side), else undetermined.

    Raises:
        ValueError: either side is empty.
    """
    if not values or not baseline:
        raise ValueError("noise_verdict needs values on both sides")
    delta = mean(list(values.values())) - mean(list(baseline.values()))
    shared = sorted(set(values) & set(baseline))
    if len(shared) >= 2:
        _, p = paired_t([values[s] - baseline[s] for s in shared])
        return NoiseVerdict(p >= alpha, "paired-t", delta, p_value=p, n_shared=len(shared))
    sp = pooled_std(list(values.values()), list(baseline.values()))
    if sp is None:
        return NoiseVerdict(None, "none", delta, n_shared=len(shared))
    return NoiseVerdict(abs(delta) <= sp + _EPS, "pooled-std", delta, n_shared=len(shared),
                        threshold=sp)
