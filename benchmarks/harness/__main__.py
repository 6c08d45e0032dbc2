"""``python -m benchmarks.harness CONFIG... [options]``: see :mod:`.cli`."""
from .cli import main

raise SystemExit(main())
