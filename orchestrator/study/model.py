"""What a validated study is: :class:`Study` and its parts (profiles, axes, levels,
resources, evaluation sections) and the registered study kinds.

The values are built by :func:`orchestrator.study.validate.parse_study`; everything here is
plain frozen data plus the lookups (lines, problems) the planner needs.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .batch import BatchSpec
from .errors import Problem, StudyError

Path_ = tuple[Any, ...]  # a key path inside the YAML document

DATA_CHOICES: tuple[str, ...] = ("auto", "coco", "toy", "none")
EXPAND_CHOICES: tuple[str, ...] = ("product", "zip", "rows")
#: The key of a level naming the config its combinations start from (mmengine's word for a
#: config's parent).
LEVEL_BASE_KEY = "_base_"


@dataclass(frozen=True)
class StudyKind:
    """A kind of study: extra keys it accepts and whether it has a fixed list of jobs.

    A search study (Optuna) registers its own kind with ``extra_keys={"search"}``: a
    top-level ``search:`` section, which a profile may override (``profiles.P.search``;
    parsed by :mod:`orchestrator.search.space`). Its trials are not a fixed list, so
    :func:`~orchestrator.study.expand.combinations` refuses it.
    """

    name: str
    extra_keys: frozenset[str] = frozenset()
    fixed_jobs: bool = True


#: Registered study kinds. Add one with ``KINDS[k.name] = k``.
KINDS: dict[str, StudyKind] = {
    "ablation": StudyKind("ablation"),
    "search": StudyKind("search", frozenset({"search"}), fixed_jobs=False),
}


@dataclass(frozen=True)
class Level:
    """One named level of an axis: a patch of dotted config keys.

    Attributes:
        axis: Axis name.
        name: Level name (used in tags ``cm.level.<axis>``).
        patch: Dotted config key -> value. A leading ``+`` adds a key the config lacks.
            (Without the level's ``_base_`` key, which is :attr:`base`.)
        line: Line of the level in the study file.
    """

    axis: str
    name: str
    patch: Mapping[str, Any]
    line: int
    #: ``_base_: <config>``: the level's combinations start from this config instead of the
    #: study's (its patch and the other axes' levels apply on top), e.g. a detector of
    #: another family that exists as a config. ``None``: the study's (or profile's) base.
    base: str | None = None

    def key_line(self, key: str, lines: Mapping[Path_, int]) -> int:
        return lines.get(("axes", self.axis, self.name, key), self.line)


@dataclass(frozen=True)
class Axis:
    name: str
    levels: tuple[Level, ...]
    line: int

    def level(self, name: str) -> Level | None:
        return next((lv for lv in self.levels if lv.name == name), None)


@dataclass(frozen=True)
class Resources:
    """Per-job resources.

    Attributes:
        gpus_per_job: GPUs one job needs; a fraction packs several jobs on one GPU; more
            than one runs one data-parallel process per GPU (docs/cluster.md).
        cpus_per_job: CPU threads of each process (also the CPU-only parallelism unit).
        procs_per_job: Data-parallel processes of a job on CPUs (gloo).
        nodes_per_job: Nodes a job's processes spread over (Slurm only).
    """

    gpus_per_job: float = 1.0
    cpus_per_job: int = 1
    procs_per_job: int = 1
    nodes_per_job: int = 1


@dataclass(frozen=True)
class EvaluateModel:
    """One ``evaluate.models`` entry: the combinations it selects and what they test.

    Attributes:
        levels: axis -> level; a combination with all of them runs this entry (the first
            entry that matches wins).
        published: A model ``Name`` of the metafile (its ``Config`` and ``Weights``).
        weights: Weights file name in the weights folder (overrides the metafile's).
        config: Config to test with (overrides the metafile's).
        index: Position in ``models`` (for messages).
        line: Line of the entry in the study file.
    """

    levels: Mapping[str, str]
    published: str | None
    weights: str | None
    config: str | None
    index: int
    line: int


@dataclass(frozen=True)
class Evaluate:
    """A profile's ``evaluate`` section: test published checkpoints, train nothing.

    Attributes:
        weights_dir: Folder of the weights files (repo-relative or absolute;
            ``$CM_WEIGHTS_DIR`` / ``--weights-dir`` override it).
        metafile: Model index (mmdet's ``metafile.yml`` format) ``published`` names refer to.
        models: The entries, in order.
    """

    weights_dir: str
    metafile: str
    models: tuple[EvaluateModel, ...]


@dataclass(frozen=True)
class Profile:
    """A budget for the study (paper schedule on COCO, toy schedule on a CPU...).

    Attributes:
        name: Profile name (``--profile``).
        data: ``auto`` | ``coco`` | ``toy`` | ``none``.
        patch: Config keys every job of the profile gets (applied before the levels).
        override: Config keys applied *after* the levels (e.g. a toy schedule that must win
            over a level's own schedule).
        base: Base config replacing the study's for this profile, or ``None``.
        seeds: Seeds replacing the study's for this profile, or ``None``.
        resources: Resources of the profile's jobs.
        line: Line of the profile in the study file (0 for the implicit one).
        evaluate: Evaluation only (no training): see :mod:`orchestrator.study.evaluate`.
        batch: The paper's recipe and the rule for fewer GPUs
            (:class:`orchestrator.study.batch.BatchSpec`), or ``None``.
    """

    name: str
    data: str
    patch: Mapping[str, Any]
    base: str | None
    seeds: tuple[int, ...] | None
    resources: Resources
    line: int
    override: Mapping[str, Any] = field(default_factory=dict)
    evaluate: Evaluate | None = None
    batch: BatchSpec | None = None


@dataclass(frozen=True)
class Study:
    """A validated study file."""

    path: Path
    name: str
    description: str
    kind: str
    base: str
    data: str
    axes: tuple[Axis, ...]
    expand: str
    rows: tuple[Mapping[str, str], ...]
    exclude: tuple[Mapping[str, str], ...]
    seeds: tuple[int, ...]
    profiles: Mapping[str, Profile]
    default_profile: str
    resources: Resources
    retries: int
    table: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)
    lines: Mapping[Path_, int] = field(repr=False)
    #: Key paths that came from the command line (``--set``/``--sweep``; see
    #: :mod:`orchestrator.study.overrides`) -> the option, which problems name instead.
    origins: Mapping[Path_, str] = field(default_factory=dict, repr=False)
    executor: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Key paths whose value came from an included profile file -> (that file, its line),
    #: which problems name instead of the study file.
    sources: Mapping[Path_, tuple[str, int]] = field(default_factory=dict, repr=False)

    def line(self, *path: Any) -> int:
        """Line of ``path`` in the file, or of its nearest ancestor that has one."""
        p: Path_ = tuple(path)
        while p and p not in self.lines:
            p = p[:-1]
        return self.lines.get(p, 0)

    def problem(self, path: Iterable[Any], message: str) -> Problem:
        path = tuple(path)
        option = self.origin(path)
        if option is not None:  # a --set/--sweep: "command line: --set a.b=1: message"
            return Problem("command line", 0, option, message)
        return Problem(*locate(path, str(self.path), self.lines, self.sources),
                       ".".join(map(str, path)), message)

    def origin(self, path: Iterable[Any]) -> str | None:
        """The command-line option ``path`` (or an ancestor of it) came from, if any."""
        p: Path_ = tuple(path)
        while p:
            if p in self.origins:
                return self.origins[p]
            p = p[:-1]
        return None

    def profile(self, name: str | None) -> Profile:
        name = name or self.default_profile
        if name not in self.profiles:
            raise StudyError([self.problem(["profiles"], f"no profile {name!r}; the study has "
                                           f"{sorted(self.profiles)}")])
        return self.profiles[name]

    def axis(self, name: str) -> Axis | None:
        return next((a for a in self.axes if a.name == name), None)


def locate(path: Path_, file: str, lines: Mapping[Path_, int],
           sources: Mapping[Path_, tuple[str, int]]) -> tuple[str, int]:
    """File and line of ``path``: its nearest ancestor in the study file (``lines``) or in an
    included profile file (``sources``)."""
    p = path
    while p:
        if p in lines:
            return file, lines[p]
        if p in sources:
            return sources[p]
        p = p[:-1]
    return file, lines.get((), 0)
