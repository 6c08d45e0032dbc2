"""CLI: ``python -m centermask_mm.converters.centermask2 SRC DST [--config CFG]``."""
from __future__ import annotations

import argparse
import sys

from .core import convert_file
from .registry import ConversionError


def main(argv: list[str] | None = None) -> int:
    """Convert one checkpoint; returns the process exit status (1 on a conversion error)."""
    parser = argparse.ArgumentParser(
        prog='python -m centermask_mm.converters.centermask2',
        description='Convert a centermask2 / detectron2 checkpoint (whole CenterMask model, '
                    'or an ImageNet backbone) into an mmdet checkpoint for this project.')
    parser.add_argument('src', help='source checkpoint (.pth or detectron2 .pkl)')
    parser.add_argument('dst', help='output .pth ({"state_dict", "meta"})')
    parser.add_argument('--config', help='project config of the matching model: the result '
                        'must load into it with no missing, unexpected or mis-shaped key')
    parser.add_argument('--backbone-only', action='store_true',
                        help='convert only backbone.bottom_up.* of a detector checkpoint')
    parser.add_argument('--prefix', default='',
                        help="prefix for output keys, e.g. 'backbone.' (default: none)")
    parser.add_argument('--ignore-unknown', action='store_true',
                        help='drop keys that match no rule instead of failing')
    args = parser.parse_args(argv)
    try:
        meta = convert_file(args.src, args.dst, config=args.config,
                            backbone_only=args.backbone_only, prefix=args.prefix,
                            ignore_unknown=args.ignore_unknown)
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    what = 'whole model' if meta['whole_model'] else 'backbone'
    print(f"converted {meta['converted']} tensors ({what}, {meta['family']} "
          f"{meta['backbone']}, scheme {meta['scheme']}), skipped {meta['skipped']}"
          f"{', checked against ' + meta['config'] if meta['config'] else ''} -> {args.dst}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
