"""``python -m orchestrator.job WORK_DIR/job.json``: run one job (see :mod:`.worker`)."""
from .worker import main

raise SystemExit(main())
