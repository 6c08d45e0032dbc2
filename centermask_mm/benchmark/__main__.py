"""``python -m centermask_mm.benchmark CONFIG... [options]``: see :mod:`.cli`."""
from .cli import main

raise SystemExit(main())
