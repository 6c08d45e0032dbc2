"""Print the worst-case differences of this project against the centermask2 fixture.

The numbers of docs/centermask.md ("Parity measured against centermask2") come from::

    .venv/bin/python tests/test_models/test_centermask/centermask2_parity_report.py

Same model, weights and stage-by-stage feeding as test_centermask2_parity.py (which asserts
the tolerances); this script only reports the measured maxima.
"""
from __future__ import annotations

import sys
from pathlib import Path

import mmcv
import torch
from mmengine.structures import InstanceData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_centermask2_parity import DATA, LEVELS, STRIDES, H, W, _build, _sample  # noqa: E402

from centermask_mm.models.utils.centermask2_postprocess import finalize_instances  # noqa: E402


def _abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def main() -> None:
    torch.set_num_threads(2)
    ref = torch.load(DATA / 'centermask2_outputs.pth', map_location='cpu', weights_only=True)
    model = _build()
    img = mmcv.imread(str(DATA / 'image_512x640.png'))
    data = dict(inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous()],
                data_samples=[_sample()])
    inp = model.data_preprocessor(data, False)['inputs']
    print(f'preprocessing: max abs {_abs(inp, ref["input"])}')
    with torch.no_grad():
        for name, f in zip(LEVELS, model.extract_feat(ref['input']), strict=True):
            print(f'fpn.{name}: max abs {_abs(f, ref["fpn." + name]):.2e}, '
                  f'relative {_rel(f, ref["fpn." + name]):.2e}')
        feats = tuple(ref[f'fpn.{n}'] for n in LEVELS)
        cls, box, ctr = model.bbox_head(feats)
        for i, (name, stride) in enumerate(zip(LEVELS, STRIDES, strict=True)):
            print(f'fcos {name}: cls {_abs(cls[i], ref["fcos.cls." + name]):.2e}, box '
                  f'{_abs(box[i] / stride, ref["fcos.box." + name]):.2e}, ctr '
                  f'{_abs(ctr[i], ref["fcos.ctr." + name]):.2e} (max abs)')
        print('candidates:', [int((c.sigmoid() > 0.05).sum()) for c in cls],
              'reference', ref['fcos.candidates'].tolist())
        dets = model.fcos_detections_centermask2((cls, box, ctr), [_sample().metainfo])[0]
        print(f'FCOS detections: {len(dets)}, classes equal '
              f'{torch.equal(dets.labels, ref["dets.classes"])}, boxes '
              f'{_abs(dets.bboxes, ref["dets.boxes"]):.2e} px, scores '
              f'{_abs(dets.scores, ref["dets.scores"]):.2e}')
        res = model.predict(inp, [_sample()], rescale=True)[0].pred_instances
        differ = (res.masks != ref['final.masks'].bool()).flatten(1).sum(1)
        print(f'final (end to end from the PNG): {len(res)} instances, classes equal '
              f'{torch.equal(res.labels, ref["final.classes"])}, boxes '
              f'{_abs(res.bboxes, ref["final.boxes"]):.2e} px, scores '
              f'{_abs(res.scores, ref["final.scores"]):.2e}, mask scores '
              f'{_abs(res.mask_scores, ref["final.mask_scores"]):.2e}, mask pixels differing: '
              f'max {int(differ.max())} per mask, {int(differ.sum())} in all')
        roi = model.roi_head
        given = dict(final=(ref['dets.boxes'][ref['final.det_index']], ref['final.classes'],
                            ref['final.scores']),
                     given=(ref['given.boxes'], ref['given.classes'], ref['given.scores']))
        for tag, (boxes, labels, scores) in given.items():
            rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
            out = roi._mask_forward(feats, rois, [(H, W)])
            idx = torch.arange(len(boxes))
            probs = out['mask_preds'][idx, labels].sigmoid()
            iou = roi._mask_iou(out['mask_feats'], out['mask_preds'], labels)
            print(f'mask branch on the {tag} boxes: mask_probs '
                  f'{_abs(probs, ref[tag + ".mask_probs"]):.2e}, maskiou '
                  f'{_abs(iou, ref[tag + ".maskiou"]):.2e}, mask_scores '
                  f'{_abs(scores * iou, ref[tag + ".mask_scores"]):.2e}')
            if tag != 'given':
                continue
            levels = roi.mask_roi_extractor.map_roi_levels(
                rois, 3, boxes.new_full((len(boxes),), float(H * W)))
            post = finalize_instances(
                InstanceData(bboxes=boxes.clone(), scores=scores, labels=labels, index=idx),
                probs, (H, W), None, 0.5)
            differ = (post.masks != ref['given.post_masks'].bool()).flatten(1).sum(1)
            print(f'  levels equal {torch.equal(levels, ref["given.levels"])}, kept equal '
                  f'{torch.equal(post.index, ref["given.post_index"])}, clipped boxes '
                  f'{_abs(post.bboxes, ref["given.post_boxes"]):.2e} px, pasted mask pixels '
                  f'differing per box {differ.tolist()}')
    mmdet = _build('mmdet')
    with torch.no_grad():
        res = mmdet.predict(inp, [_sample()], rescale=True)[0].pred_instances
    to_square = to_score = 0.0
    for box, label, score in zip(ref['final.boxes'], ref['final.classes'], ref['final.scores'],
                                 strict=True):
        match = ((res.bboxes - box).abs().amax(1) <= 1e-3) & (res.labels == label)
        assert int(match.sum()) == 1, (box, label)
        to_square = max(to_square, abs(res.scores[match].item() - score.item() ** 2))
        to_score = max(to_score, abs(res.scores[match].item() - score.item()))
    print(f"'mmdet' mode: {len(res)} instances; all 48 reference box+class pairs found; "
          f'|score - reference score^2| max {to_square:.2e}, |score - reference score| max '
          f'{to_score:.2f}')


if __name__ == '__main__':
    main()
