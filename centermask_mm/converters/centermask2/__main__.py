"""CLI: ``python -m centermask_mm.converters.centermask2 SRC DST [--config CFG]``."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .core import convert_file
from .registry import ConversionError

#: The CLI's options: :func:`convert_file`'s keyword arguments, each forwarded by its name.
OPTIONS: dict[str, dict[str, Any]] = {
    '--config': dict(help='project config of the matching model: the result must load into '
                          'it with no missing, unexpected or mis-shaped key'),
    '--backbone-only': dict(action='store_true',
                            help='convert only backbone.bottom_up.* of a detector checkpoint'),
    '--prefix': dict(default='', help="prefix for output keys, e.g. 'backbone.' (default: none)"),
    '--ignore-unknown': dict(action='store_true',
                             help='drop keys that match no rule instead of failing'),
}


def main(argv: list[str] | None = None) -> int:
    """Convert one checkpoint; returns the process exit status (1 on a conversion error)."""
    parser = argparse.ArgumentParser(
        prog='python -m centermask_mm.converters.centermask2',
        description='Convert a centermask2 / detectron2 checkpoint (whole CenterMask model, '
                    'or an ImageNet backbone) into an mmdet checkpoint for this project.')
    parser.add_argument('src', help='source checkpoint (.pth or detectron2 .pkl)')
    parser.add_argument('dst', help='output .pth ({"state_dict", "meta"})')
    for flag, kwargs in OPTIONS.items():
        parser.add_argument(flag, **kwargs)
    options = vars(parser.parse_args(argv))
    src, dst = options.pop('src'), options.pop('dst')
    try:
        meta = convert_file(src, dst, **options)
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    what = 'whole model' if meta['whole_model'] else 'backbone'
    print(f"converted {meta['converted']} tensors ({what}, {meta['family']} "
          f"{meta['backbone']}, scheme {meta['scheme']}), skipped {meta['skipped']}"
          f"{', checked against ' + meta['config'] if meta['config'] else ''} -> {dst}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
