"""MLflow for a search (driver side): the search's parent run and the trials' runs."""
from __future__ import annotations

import json
import math

from ..run.tracking import Tracker
from ..study.plan import Plan, PlannedJob
from ..workspace import REPO_ROOT
from .planner import SearchPlan, TrialJob
from .space import redact


class SearchTracker(Tracker):
    """:class:`~orchestrator.run.tracking.Tracker` with the search's parent and trial runs."""

    def search_run(self, sp: SearchPlan, experiment_id: str, known: str | None) -> str:
        """The search's parent run (reused across runs of the same study and profile)."""
        from ..study.identity import git_state

        run_id = None
        if known:
            try:
                if self.client.get_run(known).info.lifecycle_stage == "active":
                    run_id = known
            except Exception:  # noqa: BLE001 - deleted or from another store
                run_id = None
        if run_id is None:
            runs = self._search([experiment_id], "tags.`cm.role` = 'study' and "
                                f"tags.`cm.profile` = '{sp.profile.name}'")
            run_id = runs[0].info.run_id if runs else None
        if run_id is None:
            commit, dirty = git_state(REPO_ROOT)
            name = f"{sp.study.name} [{sp.profile.name}]"
            tags = {"cm.role": "study", "cm.study": sp.study.name, "cm.table": "",
                    "cm.profile": sp.profile.name, "cm.dataset": sp.base.dataset.tag,
                    "cm.git_commit": commit, "cm.git_dirty": str(dirty).lower(),
                    "cm.study_file": str(sp.study.path), "mlflow.runName": name}
            run_id = self.client.create_run(experiment_id, tags=tags,
                                            run_name=name).info.run_id
            if sp.study.description:
                self.client.set_tag(run_id, "mlflow.note.content", sp.study.description)
        self.client.update_run(run_id, status="RUNNING")
        spec = sp.spec
        # Tags, not params: a budget edited between runs must not clash with old values.
        tags = {"cm.kind": "search", "cm.optuna_study": sp.optuna_name,
                "cm.optuna_storage": redact(sp.storage_url),
                "cm.search.metric": spec.metric, "cm.search.direction": spec.direction,
                "cm.search.n_trials": str(spec.n_trials),
                "cm.search.timeout_s": str(spec.timeout_s),
                "cm.search.sampler": json.dumps(dict(spec.sampler)),
                "cm.search.pruner": json.dumps(dict(spec.pruner)),
                "cm.search.space": "; ".join(line.strip() for line in
                                             spec.describe()[3:])[:5000]}
        for k, v in tags.items():
            self.client.set_tag(run_id, k, v)
        return run_id

    def job_run(self, plan: Plan, job: PlannedJob, experiment_id: str,
                parent_id: str) -> str:
        run_id = super().job_run(plan, job, experiment_id, parent_id)
        if isinstance(job, TrialJob):
            import mlflow.entities

            self.client.set_tag(run_id, "cm.trial", str(job.number))
            self.client.set_tag(run_id, "cm.trial_state", "RUNNING")
            self.client.set_tag(run_id, "cm.optuna_study",
                                f"{plan.study.name}:{plan.profile.name}")
            params = [mlflow.entities.Param(f"trial.{k}", str(v)[:500])
                      for k, v in job.params.items()]
            run = self.client.get_run(run_id)
            params = [p for p in params if p.key not in run.data.params]
            if params:
                self.client.log_batch(run_id, params=params)
        return run_id

    def trial_done(self, run_id: str, state: str, value: float | None,
                   step: int | None = None) -> None:
        """Final trial tags: ``cm.trial_state``, ``cm.status=pruned``, ``objective``."""
        self.client.set_tag(run_id, "cm.trial_state", state)
        if state == "PRUNED":
            self.client.set_tag(run_id, "cm.status", "pruned")
            if step is not None:
                self.client.set_tag(run_id, "cm.pruned_step", str(step))
        if value is not None and math.isfinite(value):
            self.client.log_metric(run_id, "objective", float(value))
