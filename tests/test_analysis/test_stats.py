"""Seed statistics on hand-made numbers."""
from __future__ import annotations

import math

import pytest

from analysis.stats import noise_verdict, paired_t, pooled_std, sample_std, t_two_sided_p

# Two-sided 5 % critical values of Student's t (standard tables).
T_CRIT_05 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 30: 2.042}


@pytest.mark.parametrize("df,t", sorted(T_CRIT_05.items()))
def test_t_p_value_at_critical_values(df: int, t: float) -> None:
    assert t_two_sided_p(t, df) == pytest.approx(0.05, abs=2e-4)


def test_t_p_value_edges_and_scipy() -> None:
    assert t_two_sided_p(0.0, 3) == pytest.approx(1.0)
    assert t_two_sided_p(math.inf, 3) == 0.0
    assert t_two_sided_p(-2.0, 4) == t_two_sided_p(2.0, 4)
    with pytest.raises(ValueError):
        t_two_sided_p(1.0, 0)
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 6, 7, 19, 20):
        for t in (0.3, 1.1, 2.5, 7.0):
            assert t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(t, df), rel=1e-9)


def test_sample_and_pooled_std() -> None:
    assert sample_std([1.0]) is None
    assert sample_std([1.0, 3.0]) == pytest.approx(math.sqrt(2))
    assert pooled_std([1.0], [2.0]) is None
    # One side with one value contributes no spread: pooled = the other side's std.
    assert pooled_std([1.0, 3.0], [5.0]) == pytest.approx(math.sqrt(2))
    assert pooled_std([1.0, 3.0], [2.0, 4.0]) == pytest.approx(math.sqrt(2))


def test_paired_t_by_hand() -> None:
    # diffs 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641, df 2.
    t, p = paired_t([1.0, 2.0, 3.0])
    assert t == pytest.approx(2 * math.sqrt(3))
    assert p == pytest.approx(0.0742, abs=1e-4)
    assert paired_t([0.5, 0.5, 0.5]) == (math.inf, 0.0)  # identical shift: not noise
    assert paired_t([0.0, 0.0]) == (0.0, 1.0)
    with pytest.raises(ValueError):
        paired_t([1.0])


def test_noise_verdict_paired() -> None:
    base = {0: 35.0, 1: 35.3, 2: 35.6}
    noisy = {0: 35.2, 1: 35.4, 2: 35.5}  # diffs +0.2, +0.1, -0.1
    v = noise_verdict(noisy, base)
    assert v.test == "paired-t" and v.within_noise is True and v.n_shared == 3
    assert v.delta == pytest.approx(0.0667, abs=1e-4)
    real = {0: 36.0, 1: 36.2, 2: 36.5}  # diffs +1.0, +0.9, +0.9
    v = noise_verdict(real, base)
    assert v.within_noise is False and v.p_value is not None and v.p_value < 0.05


def test_noise_verdict_pooled_and_undetermined() -> None:
    base = {0: 35.0, 1: 35.3, 2: 35.6}  # std 0.3
    v = noise_verdict({7: 35.5}, base)  # no shared seed
    assert v.test == "pooled-std" and v.threshold == pytest.approx(0.3)
    assert v.within_noise is True  # |0.2| <= 0.3
    assert noise_verdict({7: 36.0}, base).within_noise is False  # |0.7| > 0.3
    # One shared seed only: still the pooled std.
    assert noise_verdict({0: 35.1}, base).test == "pooled-std"
    v = noise_verdict({0: 35.1}, {0: 35.0})
    assert v.within_noise is None and v.test == "none"
    with pytest.raises(ValueError):
        noise_verdict({}, base)
