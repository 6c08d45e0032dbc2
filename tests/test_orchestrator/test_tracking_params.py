"""Job runs' params: every name the planner can produce is one MLflow accepts."""
from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from orchestrator.run.tracking import job_params, param_name
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.workspace import REPO_ROOT


def test_step_selectors_become_path_elements():
    assert param_name("train_dataloader.dataset.pipeline[type=Resize].scale") == \
        "train_dataloader.dataset.pipeline.Resize.scale"
    assert param_name("p[type=mmdet.RandomResize].scale") == "p.mmdet.RandomResize.scale"
    assert param_name("model.roi_head.mask_head.num_convs") == \
        "model.roi_head.mask_head.num_convs"
    assert param_name("pipeline[name=flip].prob") == "pipeline.flip.prob"
    assert param_name("a=b,c") == "a_b_c"


def test_a_study_patching_steps_by_type_logs_its_params(tmp_path):
    """SAIS Table IV's 640 level patches the Resize steps by type; its run's params log."""
    study = load_study(REPO_ROOT / "experiments/studies/sais_table4.yaml")
    plan = plan_study(study, "toy", workspace=tmp_path / "ws", repo_root=REPO_ROOT,
                      validate_build=False)
    (job,) = [j for j in plan.jobs if j.levels["input"] == "640"]
    params = job_params(plan, job)
    assert params["train_dataloader.dataset.pipeline.Resize.scale"] == "(640, 640)"

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.create_run(client.create_experiment("params"))
    client.log_batch(run.info.run_id,
                     params=[mlflow.entities.Param(k, v) for k, v in params.items()])
    assert client.get_run(run.info.run_id).data.params == params
