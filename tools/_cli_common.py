"""Command-line handling shared by the scripts in ``tools/``.

``train.py`` and ``test.py`` end with mmdet's runner flags (``--cfg-options``,
``--launcher``, the hidden ``--local_rank``) and resolve the config the same way;
``demo.py`` and ``export_onnx.py`` take ``--cfg-options`` as a plain ``KEY=VALUE`` list.
The scripts import this module as a sibling: ``python tools/<script>.py``, ``mim`` and
torchrun put this folder first on ``sys.path``; code that loads a script by its file path
(the tests) puts it there itself. Only argparse and mmengine's ``DictAction`` are imported
at module level, so ``-h`` stays fast (``mim train`` runs it before training).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mmengine.config import DictAction

if TYPE_CHECKING:
    from mmengine.config import Config


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Sequence[str] | None) -> argparse.Namespace:
    """Add the flags mmdet's train/test scripts end with to ``parser`` and parse ``argv``.

    ``parser`` has the positional ``config`` and the script's own flags; this adds
    ``--cfg-options`` (a dict), ``--launcher`` and ``--local_rank``, then parses. A missing
    config file is a usage error; ``--local_rank`` becomes ``$LOCAL_RANK`` unless set.
    """
    parser.add_argument("--cfg-options", nargs="+", action=DictAction,
                        help="override config keys, KEY=VALUE (lists as key=\"[a,b]\" or "
                             "key=a,b; no white space)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"],
                        default="none", help="job launcher")
    # torch.distributed.launch passes --local-rank (torch >= 2) or --local_rank (older).
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f"config file not found: {args.config}")
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def load_cfg(args: argparse.Namespace) -> Config:
    """Load ``args.config`` with the flags of :func:`parse_runner_args` and ``--work-dir``.

    Precedence: ``--cfg-options`` override the file; ``--work-dir`` overrides both, and
    without either the work dir is ``./work_dirs/<config name>``. ``default_scope``
    defaults to ``'mmdet'``.
    """
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # Configs inherit mmdet's default_runtime, which sets this; a bare one would otherwise
    # build from mmengine's root registries, which know no detectors.
    cfg.setdefault("default_scope", "mmdet")

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    return cfg


def key_value_options(items: list[str], prog: str) -> dict:
    """``--cfg-options`` given as ``KEY=VALUE`` strings, as a dict for ``merge_from_dict``.

    Values are read as mmengine's ``DictAction`` reads them: ``a,b``, ``[a,b]`` and
    ``(a,b)`` are lists/tuples; numbers, ``True``/``False`` and ``None`` are typed.

    Raises:
        SystemExit: an item without ``=``, naming it and ``prog``.
    """
    parsed: dict = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"{prog}: --cfg-options expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        parsed[key] = DictAction._parse_iterable(value)
    return parsed
