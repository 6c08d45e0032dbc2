"""A level that applies on the base but not after another axis's level is an error."""
from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study

FIXTURE = Path(__file__).parent / "fixtures" / "combo_patch_conflict.yaml"


def test_combination_patch_conflict_is_reported(tmp_path: Path, repo_root: Path) -> None:
    study = load_study(FIXTURE)
    with pytest.raises(StudyError) as e:
        plan_study(study, None, workspace=tmp_path / "ws", repo_root=repo_root,
                   validate_build=False)
    msg = str(e.value)
    # Names the file, line, key and the combination that breaks it; nothing is folded.
    assert "combo_patch_conflict.yaml:9" in msg
    assert "axes.ca.off.model.bbox_head.center_aware" in msg
    assert "in combination head=fcos, ca=off" in msg
