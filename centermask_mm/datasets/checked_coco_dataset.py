"""``CocoDataset`` that validates its annotation file before loading it."""
from __future__ import annotations

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
        # mmengine's BaseDataset.__init__ has already joined data_root onto ann_file and
        # every data_prefix entry (_join_prefix), so these are the very paths mmdet's
        # parse_data_info reads: relative ones are relative to the working directory.
        img_dir = self.data_prefix.get("img")
        if img_dir is not None and "://" in str(img_dir):
            img_dir = None  # a remote storage backend: the local file check does not apply
        validate_coco(self.ann_file, img_dir)
        return super().load_data_list()
