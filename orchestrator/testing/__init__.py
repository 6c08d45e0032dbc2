"""Test doubles of the orchestrator (as ``optuna.testing``): fake job runners
(:mod:`.fake_jobs`), their configs (``configs/``) and study builders (:mod:`.studies`).

Production code never imports this package; a test config names a fake runner in its
``job_runner`` and the job process calls it like any runner.
"""
