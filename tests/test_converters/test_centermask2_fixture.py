"""Whole-model conversion of centermask2's own checkpoint (tests/data/centermask2, README.md).

The fixture is a real centermask2 CenterMask-Lite V-19-slim-dw-eSE checkpoint (random
weights, 194 tensors in detectron2 names). The expected names below are spelled out from
the detectron2 / centermask2 module layout, independently of the converter's rules.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import torch

from centermask_mm.converters import centermask2 as cm2
from centermask_mm.converters.centermask2.__main__ import main

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / 'tests' / 'data' / 'centermask2'
CKPT = DATA / 'centermask2_lite_V_19_slim_dw_eSE_random.pth'
CONFIG = REPO / 'configs/centermask/centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco.py'


@pytest.fixture(scope='module')
def source() -> dict[str, torch.Tensor]:
    return cm2.load_source(CKPT)


@pytest.fixture(scope='module')
def conversion(source) -> cm2.Conversion:
    return cm2.convert_checkpoint(source)


def _expected_name(key: str) -> str | None:
    """Our name of a non-backbone centermask2 key, written out case by case."""
    fixed = {
        'proposal_generator.fcos_head.cls_logits': 'bbox_head.conv_cls',
        'proposal_generator.fcos_head.bbox_pred': 'bbox_head.conv_reg',
        'proposal_generator.fcos_head.ctrness': 'bbox_head.conv_centerness',
        'roi_heads.mask_head.deconv': 'roi_head.mask_head.upsample',
        'roi_heads.mask_head.predictor': 'roi_head.mask_head.conv_logits',
        'roi_heads.mask_head.spatialAtt.conv': 'roi_head.mask_head.sam.conv',
        'roi_heads.maskiou_head.maskiou': 'roi_head.mask_iou_head.fc_mask_iou',
        'roi_heads.maskiou_head.maskiou_fc1': 'roi_head.mask_iou_head.fcs.0',
        'roi_heads.maskiou_head.maskiou_fc2': 'roi_head.mask_iou_head.fcs.1',
        'backbone.top_block.p6': 'neck.fpn_convs.3.conv',
        'backbone.top_block.p7': 'neck.fpn_convs.4.conv',
    }
    module, param = key.rsplit('.', 1)
    if module in fixed:
        return f'{fixed[module]}.{param}'
    if m := re.fullmatch(r'backbone\.fpn_(lateral|output)([345])', module):
        kind = 'lateral_convs' if m[1] == 'lateral' else 'fpn_convs'
        return f'neck.{kind}.{int(m[2]) - 3}.conv.{param}'
    if m := re.fullmatch(r'proposal_generator\.fcos_head\.(cls|bbox)_tower\.(\d+)', module):
        i = int(m[2])
        part = {0: 'conv', 1: 'gn'}[i % 3]
        return f"bbox_head.{'cls' if m[1] == 'cls' else 'reg'}_convs.{i // 3}.{part}.{param}"
    if m := re.fullmatch(r'proposal_generator\.fcos_head\.scales\.(\d)', module):
        return f'bbox_head.scales.{m[1]}.scale'
    if m := re.fullmatch(r'roi_heads\.mask_head\.mask_fcn(\d)', module):
        return f'roi_head.mask_head.convs.{int(m[1]) - 1}.conv.{param}'
    if m := re.fullmatch(r'roi_heads\.maskiou_head\.maskiou_fcn(\d)', module):
        return f'roi_head.mask_iou_head.convs.{int(m[1]) - 1}.{param}'
    return None


def test_every_tensor_is_converted_exactly(source, conversion) -> None:
    assert len(source) == 194
    assert sorted(conversion.key_map) == sorted(source)  # every source key maps ...
    assert len(set(conversion.key_map.values())) == 194  # ... to its own name
    assert conversion.family == 'vovnet' and conversion.scheme == 'detectron2'
    assert conversion.backbone_info['arch'] == 'V-19-slim-dw'
    assert conversion.backbone_info['attention'] == 'ese'
    heads = 0
    for key, value in source.items():
        ours = conversion.key_map[key]
        out = conversion.state_dict[ours]
        assert out.dtype == torch.float32, key  # fp16 on disk
        if key.startswith('backbone.bottom_up.'):
            assert ours.startswith('backbone.'), key
        else:
            assert ours == _expected_name(key), key
            heads += 1
        if key == 'roi_heads.mask_head.spatialAtt.conv.weight':
            assert value.shape == (1, 2, 3, 3)
            # centermask2 [mean, max] -> ours [max, mean]
            assert torch.equal(out[:, 0], value[:, 1].float())
            assert torch.equal(out[:, 1], value[:, 0].float())
        elif key.endswith('.scale'):
            assert value.shape == (1,) and out.shape == ()
            assert out.item() == value.float().item()
        else:
            assert torch.equal(out, value.float()), key
    assert heads == 194 - sum(k.startswith('backbone.bottom_up.') for k in source)


def test_sam_swap_is_what_the_attention_needs(source, conversion) -> None:
    """Our SpatialAttention with the converted weight computes centermask2's attention."""
    from centermask_mm.models.roi_heads.mask_heads.sag_mask_head import SpatialAttention

    w = source['roi_heads.mask_head.spatialAtt.conv.weight'].float()
    x = torch.randn(2, 8, 6, 6, generator=torch.Generator().manual_seed(1))
    sam = SpatialAttention()
    sam.conv.weight.data.copy_(conversion.state_dict['roi_head.mask_head.sam.conv.weight'])
    # centermask2: sigmoid(conv([mean, max]))
    ref = torch.nn.functional.conv2d(
        torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1), w, padding=1)
    torch.testing.assert_close(sam.attention(x), ref.sigmoid(), rtol=1e-6, atol=1e-6)


def test_file_loads_strictly_into_the_project_model(tmp_path, capsys) -> None:
    from mmengine.runner import load_checkpoint

    dst = tmp_path / 'out' / 'lite_v19_slim_dw.pth'
    assert main([str(CKPT), str(dst), '--config', str(CONFIG)]) == 0
    assert 'whole model' in capsys.readouterr().out
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert meta['converted'] == 194 and meta['family'] == 'vovnet' and meta['whole_model']
    assert meta['source_sha256'] == \
        '9af2db273475a2c2c520ca00ffca040a43da885cf6c8dccab9771a016165f5eb'
    model, _ = cm2.core.build_detector(CONFIG, device='cpu')
    assert len(model.state_dict()) == 216  # 194 + 22 BN num_batches_tracked
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    torch.testing.assert_close(model.bbox_head.scales[2].scale.data,
                               ckpt['state_dict']['bbox_head.scales.2.scale'])


def test_detectron2_pickle_with_extras(tmp_path, source) -> None:
    path = tmp_path / 'model_final.pkl'
    with path.open('wb') as f:
        pickle.dump({'model': {k: v.numpy() for k, v in source.items()},
                     '__author__': 'centermask2', 'matching_heuristics': False}, f)
    meta = cm2.convert_file(path, tmp_path / 'out.pth', config=CONFIG)
    assert meta['converted'] == 194
    assert meta['source_extras'] == {'__author__': 'centermask2', 'matching_heuristics': False}


def test_unmapped_keys_are_named(tmp_path, source) -> None:
    bad = dict(source)
    bad['roi_heads.mask_head.bogus.weight'] = torch.zeros(1)
    bad['proposal_generator.fcos_head.cls_tower.2.weight'] = torch.zeros(1)  # a ReLU slot
    bad['backbone.bottom_up.stage2.OSA2_1.bogus.weight'] = torch.zeros(1)
    with pytest.raises(cm2.ConversionError) as info:
        cm2.convert_checkpoint(bad)
    message = str(info.value)
    for key in ('roi_heads.mask_head.bogus.weight',
                'proposal_generator.fcos_head.cls_tower.2.weight',
                'backbone.bottom_up.stage2.OSA2_1.bogus.weight'):
        assert key in message
    src = tmp_path / 'bad.pth'
    torch.save({'model': bad}, src)
    assert main([str(src), str(tmp_path / 'out.pth')]) == 1
    assert not (tmp_path / 'out.pth').exists()


def test_missing_and_misshaped_keys_are_named(tmp_path, source) -> None:
    bad = {k: v for k, v in source.items() if k != 'roi_heads.maskiou_head.maskiou.bias'}
    bad['roi_heads.mask_head.predictor.weight'] = torch.zeros(81, 128, 1, 1)
    src = tmp_path / 'bad.pth'
    torch.save({'model': bad}, src)
    with pytest.raises(cm2.ConversionError) as info:
        cm2.convert_file(src, tmp_path / 'out.pth', config=CONFIG)
    message = str(info.value)
    assert 'missing keys (1): roi_head.mask_iou_head.fc_mask_iou.bias' in message
    assert ('roi_head.mask_head.conv_logits.weight: checkpoint (81, 128, 1, 1) vs model '
            '(80, 128, 1, 1)') in message


def test_pixel_mean_is_checked_against_the_config(tmp_path, source) -> None:
    good = dict(source, pixel_mean=torch.tensor([103.53, 116.28, 123.675]).view(3, 1, 1),
                pixel_std=torch.ones(3, 1, 1))
    torch.save({'model': good}, tmp_path / 'good.pth')
    meta = cm2.convert_file(tmp_path / 'good.pth', tmp_path / 'out.pth', config=CONFIG)
    assert meta['preprocessing']['pixel_std'] == [1.0, 1.0, 1.0]
    rgb = dict(good, pixel_mean=torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1))
    torch.save({'model': rgb}, tmp_path / 'rgb.pth')
    with pytest.raises(cm2.ConversionError, match='model.data_preprocessor.mean'):
        cm2.convert_file(tmp_path / 'rgb.pth', tmp_path / 'out2.pth', config=CONFIG)


def test_backbone_only_from_a_detector_checkpoint(tmp_path, source) -> None:
    meta = cm2.convert_file(CKPT, tmp_path / 'bb.pth', backbone_only=True, prefix='backbone.')
    assert not meta['whole_model'] and meta['skipped'] == 62  # FPN and heads
    keys = torch.load(tmp_path / 'bb.pth', weights_only=True)['state_dict']
    assert all(k.startswith('backbone.st') for k in keys)
    # 132 converted tensors plus the 22 BN counters detectron2's FrozenBN lacks
    assert meta['converted'] == 132 and len(keys) == 132 + 22
