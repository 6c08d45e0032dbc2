"""bench_train_memory's random GT labels stay within what the model can predict."""
from __future__ import annotations

import pytest

from benchmarks.bench_train_memory import label_classes

COCO_LIKE = {"type": "CenterMask", "bbox_head": {"num_classes": 80},
             "roi_head": {"mask_head": {"num_classes": 80}}}
TOY = {"type": "CenterMask", "bbox_head": {"num_classes": 5},
       "roi_head": [{"mask_head": {"num_classes": 5}}]}


def test_defaults_to_the_models_classes():
    assert label_classes("cm", COCO_LIKE, None) == 80
    assert label_classes("toy", TOY, None) == 5  # was 80: labels the toy head cannot take
    assert label_classes("toy", TOY, 3) == 3


@pytest.mark.parametrize(("wanted", "model"), [(1, COCO_LIKE), (6, TOY), (0, TOY)])
def test_counts_the_model_cannot_take_are_refused_naming_it(wanted, model):
    with pytest.raises(SystemExit, match=r"bench_train_memory: m: --num-classes .* between 2"):
        label_classes("m", model, wanted)


def test_a_config_without_classes_needs_the_flag():
    with pytest.raises(SystemExit, match="names no num_classes; pass --num-classes"):
        label_classes("m", {"type": "X"}, None)
    assert label_classes("m", {"type": "X"}, 7) == 7
