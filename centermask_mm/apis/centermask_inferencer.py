"""``DetInferencer`` whose output keeps ``mask_scores`` (CenterMask's score × MaskIoU)."""
from __future__ import annotations

import os.path as osp
from typing import Any

import mmengine
from mmdet.apis import DetInferencer
from mmdet.structures import DetDataSample


class CenterMaskInferencer(DetInferencer):
    """mmdet's ``DetInferencer`` with ``mask_scores`` in each prediction dict.

    ``DetInferencer.pred2dict`` keeps ``labels``, ``scores`` (box scores), ``bboxes`` and
    ``masks``; CenterMask's ``predict`` also gives ``mask_scores`` (box score × predicted
    MaskIoU, what segm AP ranks by), which this class adds — to the returned
    ``predictions`` and to the ``preds/*.json`` files (``no_save_pred=False``). Everything
    else, arguments included, is ``DetInferencer``'s::

        from centermask_mm.apis import CenterMaskInferencer
        inferencer = CenterMaskInferencer(model=CONFIG, weights=CHECKPOINT, device='cpu')
        pred = inferencer('image.png')['predictions'][0]
        pred['labels'], pred['scores'], pred['mask_scores'], pred['bboxes'], pred['masks']

    Models without mask scores (mmdet's Mask R-CNN) give the same dict as
    ``DetInferencer``.
    """

    def pred2dict(self, data_sample: DetDataSample, pred_out_dir: str = "") -> dict[str, Any]:
        result = super().pred2dict(data_sample, pred_out_dir)
        instances = data_sample.get("pred_instances")
        if instances is None or "mask_scores" not in instances:
            return result
        result["mask_scores"] = instances.mask_scores.detach().cpu().tolist()
        if pred_out_dir:
            # DetInferencer has written the file already: write it again with the scores,
            # under the name it chose (the image's, else its running count).
            if "img_path" in data_sample:
                name = osp.splitext(osp.basename(data_sample.img_path))[0]
            else:
                name = str(self.num_predicted_imgs - 1)
            mmengine.dump(result, osp.join(pred_out_dir, "preds", f"{name}.json"))
        return result
