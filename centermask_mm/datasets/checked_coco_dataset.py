"""``CocoDataset`` that validates its annotation file before loading it."""
from __future__ import annotations

import os.path as osp

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .coco_validation import validate_coco


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """mmdet's ``CocoDataset`` plus :func:`validate_coco` on load.

    A corrupt or inconsistent annotation file (missing image, unknown category, mask
    outside its image, empty file) raises ``AnnotationError`` naming the file and the
    record, instead of being skipped silently.
    """

    def load_data_list(self) -> list[dict]:
        img_dir = self.data_prefix.get("img", "")
        if img_dir and not osp.isabs(img_dir) and self.data_root:
            img_dir = osp.join(self.data_root, img_dir)
        validate_coco(self.ann_file, img_dir or None)
        return super().load_data_list()
