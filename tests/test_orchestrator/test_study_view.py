"""``orchestrator.describe_study``: the one entry analysis has into the orchestrator."""
from __future__ import annotations

import pytest

import orchestrator
from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.workspace import REPO_ROOT, find_study

TABLE1 = REPO_ROOT / "experiments" / "studies" / "centermask_table1.yaml"


@pytest.mark.parametrize("name", ["centermask_table1", "centermask_table1.yaml",
                                  "studies/centermask_table1.yaml", str(TABLE1)])
def test_one_study_lookup_for_names_and_paths(name):
    assert find_study(name).resolve() == TABLE1


def test_view_of_a_study_and_its_rows_job_ids(tmp_path):
    view = orchestrator.describe_study("centermask_table1", profile="toy", workspace=tmp_path)
    assert (view.name, view.profile, view.default_profile) == ("centermask-table1", "toy",
                                                               "paper")
    assert view.profiles == ["paper", "toy"]
    assert view.axes == {"component": ["fcos", "mask-eq1", "mask-eq2", "sam",
                                       "mask-scoring"]}
    assert view.baseline_levels == {"component": "mask-scoring"}  # its patch is {}
    assert view.table is not None and len(view.table["rows"]) == 5
    # The rows' job ids are the plan's: each row one job (the toy profile has one seed).
    hashes = view.expected_job_hashes()
    plan = plan_study(load_study(TABLE1), "toy", workspace=tmp_path, repo_root=REPO_ROOT,
                      validate_build=False)
    assert set().union(*hashes.values()) == {j.job_id for j in plan.jobs}
    assert all(len(ids) == 1 for ids in hashes.values())
    assert view.reference_numbers() == {}  # a training profile: the paper's numbers stand


def test_unknown_profile_names_the_study_file():
    with pytest.raises(StudyError, match="no profile 'nope'") as err:
        orchestrator.describe_study(TABLE1, profile="nope")
    assert err.value.problems[0].file == str(TABLE1)
