"""ResNet / ResNeXt, MobileNetV2 and maskrcnn-benchmark mappings of the centermask2 converter.

Synthetic checkpoints are built from the published key schemes (detectron2 ResNet,
centermask2's MobileNetV2, the original CenterMask's maskrcnn-benchmark names) with the
inverse of each mapping. Each must convert back exactly and load strictly into the model
built from the matching project config. Functional re-statements of the detectron2 ResNet
(stride in the 1x1 conv, FrozenBN eps 1e-5) and of centermask2's MobileNetV2 check that the
converted weights compute the same function in the project's backbones, so a wrong
``style`` or a swapped layer fails even when every key and shape lines up.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from centermask_mm.converters import centermask2 as cm2
from centermask_mm.converters.centermask2 import maskrcnn_benchmark as mb
from centermask_mm.converters.centermask2 import mobilenet as mnv2
from centermask_mm.converters.centermask2 import resnet
from centermask_mm.converters.centermask2.core import build_detector, check_against_model
from centermask_mm.converters.centermask2.registry import detect_backbone

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / 'configs/centermask'
FIXTURE = REPO / 'tests/data/centermask2/centermask2_lite_V_19_slim_dw_eSE_random.pth'
BOTTOM_UP = 'backbone.bottom_up.'


def random_state(model: torch.nn.Module, seed: int = 0) -> dict[str, Tensor]:
    """Random real tensors for every entry of a (meta) model's state dict.

    BN variances are positive; ``num_batches_tracked`` is 0 as the converter writes it.
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked'):
            out[key] = torch.tensor(0, dtype=torch.long)
        elif key.endswith('running_var'):
            out[key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            out[key] = torch.randn(value.shape, generator=gen) * 0.1
    return out


def heads_to_detectron2(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Our neck / FCOS / mask-branch keys -> centermask2 names (fixture README facts)."""
    out = {}
    for key, t in state.items():
        if key.startswith('backbone.'):
            continue
        if m := re.fullmatch(r'neck\.lateral_convs\.(\d)\.conv\.(\w+)', key):
            new = f'backbone.fpn_lateral{int(m[1]) + 3}.{m[2]}'
        elif m := re.fullmatch(r'neck\.fpn_convs\.(\d)\.conv\.(\w+)', key):
            level = int(m[1]) + 3
            new = (f'backbone.fpn_output{level}.{m[2]}' if level <= 5
                   else f'backbone.top_block.p{level}.{m[2]}')
        elif m := re.fullmatch(r'bbox_head\.(cls|reg)_convs\.(\d+)\.(conv|gn)\.(\w+)', key):
            tower = 'cls_tower' if m[1] == 'cls' else 'bbox_tower'
            index = 3 * int(m[2]) + (m[3] == 'gn')
            new = f'proposal_generator.fcos_head.{tower}.{index}.{m[4]}'
        elif m := re.fullmatch(r'bbox_head\.conv_(cls|reg|centerness)\.(\w+)', key):
            name = {'cls': 'cls_logits', 'reg': 'bbox_pred', 'centerness': 'ctrness'}[m[1]]
            new = f'proposal_generator.fcos_head.{name}.{m[2]}'
        elif m := re.fullmatch(r'bbox_head\.scales\.(\d)\.scale', key):
            new, t = f'proposal_generator.fcos_head.scales.{m[1]}.scale', t.reshape(1)
        elif m := re.fullmatch(r'roi_head\.mask_head\.convs\.(\d)\.conv\.(\w+)', key):
            new = f'roi_heads.mask_head.mask_fcn{int(m[1]) + 1}.{m[2]}'
        elif key == 'roi_head.mask_head.sam.conv.weight':  # ours [max, mean], theirs [mean, max]
            new, t = 'roi_heads.mask_head.spatialAtt.conv.weight', t.flip(1)
        elif m := re.fullmatch(r'roi_head\.mask_head\.(upsample|conv_logits)\.(\w+)', key):
            new = f"roi_heads.mask_head.{'deconv' if m[1] == 'upsample' else 'predictor'}.{m[2]}"
        elif m := re.fullmatch(r'roi_head\.mask_iou_head\.convs\.(\d)\.(\w+)', key):
            new = f'roi_heads.maskiou_head.maskiou_fcn{int(m[1]) + 1}.{m[2]}'
        elif m := re.fullmatch(r'roi_head\.mask_iou_head\.fcs\.(\d)\.(\w+)', key):
            new = f'roi_heads.maskiou_head.maskiou_fc{int(m[1]) + 1}.{m[2]}'
        elif m := re.fullmatch(r'roi_head\.mask_iou_head\.fc_mask_iou\.(\w+)', key):
            new = f'roi_heads.maskiou_head.maskiou.{m[1]}'
        else:
            raise KeyError(key)
        out[new] = t
    return out


def to_detectron2(state: dict[str, Tensor], inverse_key) -> dict[str, Tensor]:
    """A whole centermask2-named checkpoint of our state (backbone via ``inverse_key``)."""
    out = {}
    for key, t in state.items():
        if key.startswith('backbone.'):
            name = inverse_key(key[len('backbone.'):])
            if name is None:
                assert key.endswith('num_batches_tracked'), key  # FrozenBN has none
                continue
            out[BOTTOM_UP + name] = t
    out.update(heads_to_detectron2(state))
    return out


def assert_same(converted: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
    assert set(converted) == set(expected)
    for key, t in expected.items():
        assert converted[key].dtype == t.dtype, key
        assert torch.equal(converted[key], t), key


def load_strict(config: Path, state: dict[str, Tensor]) -> torch.nn.Module:
    """Load ``state`` strictly into the detector of ``config`` (meta build, assigned)."""
    model, _ = build_detector(config)
    check_against_model(state, model)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


# ----------------------------------------------------------------------- functional forms
def frozen_bn(x: Tensor, sd: dict[str, Tensor], prefix: str, eps: float) -> Tensor:
    scale = sd[prefix + 'weight'] / torch.sqrt(sd[prefix + 'running_var'] + eps)
    shift = sd[prefix + 'bias'] - sd[prefix + 'running_mean'] * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def detectron2_resnet(x: Tensor, sd: dict[str, Tensor], stride_in_1x1: bool,
                      groups: int = 1, eps: float = 1e-5) -> list[Tensor]:
    """detectron2's ResNet (res3-res5 outputs) written from its key scheme and semantics."""
    def conv_bn(x, name, stride=1, padding=0, groups=1):
        x = F.conv2d(x, sd[name + '.weight'], stride=stride, padding=padding, groups=groups)
        return frozen_bn(x, sd, name + '.norm.', eps)

    x = F.relu(conv_bn(x, 'stem.conv1', stride=2, padding=3))
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    outs = []
    for s in range(2, 6):
        i = 0
        while f'res{s}.{i}.conv1.weight' in sd:
            stride = 2 if (s > 2 and i == 0) else 1
            p = f'res{s}.{i}'
            short = conv_bn(x, p + '.shortcut', stride) if p + '.shortcut.weight' in sd else x
            y = F.relu(conv_bn(x, p + '.conv1', stride if stride_in_1x1 else 1))
            y = F.relu(conv_bn(y, p + '.conv2', 1 if stride_in_1x1 else stride, 1, groups))
            x = F.relu(conv_bn(y, p + '.conv3') + short)
            i += 1
        if s >= 3:
            outs.append(x)
    return outs


def centermask2_mobilenet_v2(x: Tensor, sd: dict[str, Tensor], eps: float = 1e-5) -> list[Tensor]:
    """centermask2's MobileNetV2 (res3-res5 = features 6, 13, 17) from its key scheme."""
    def conv_bn(x, name, bn, stride=1, groups=1):
        w = sd[name + '.weight']
        x = F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2, groups=groups)
        return frozen_bn(x, sd, bn + '.', eps)

    x = F.relu6(conv_bn(x, 'features.0.0', 'features.0.1', stride=2))
    strides = {2: 2, 4: 2, 7: 2, 14: 2}  # first block of each stride-2 stage (t, c, n, s)
    outs = []
    for k in range(1, 18):
        p, s = f'features.{k}.conv', strides.get(k, 1)
        if f'{p}.6.weight' in sd:
            y = F.relu6(conv_bn(x, f'{p}.0', f'{p}.1'))
            y = F.relu6(conv_bn(y, f'{p}.3', f'{p}.4', s, groups=y.shape[1]))
            y = conv_bn(y, f'{p}.6', f'{p}.7')
        else:
            y = F.relu6(conv_bn(x, f'{p}.0', f'{p}.1', s, groups=x.shape[1]))
            y = conv_bn(y, f'{p}.3', f'{p}.4')
        x = x + y if (s == 1 and x.shape == y.shape) else y
        if k in (6, 13, 17):
            outs.append(x)
    return outs


def assert_same_function(backbone: Callable[[Tensor], list[Tensor]],
                         reference: Callable[[Tensor], list[Tensor]], seed: int) -> None:
    """``backbone`` gives ``reference``'s feature maps on one random 64x96 image."""
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected, got = reference(x), backbone(x)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())


def bottom_up(ckpt: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k[len(BOTTOM_UP):]: v for k, v in ckpt.items() if k.startswith(BOTTOM_UP)}


# ------------------------------------------------------------------------------ ResNet
RESNET_CONFIGS = {
    # config -> (detectron2 STRIDE_IN_1X1, FrozenBN eps of the source code base)
    'centermask_r50-caffe_fpn_ms-3x_coco.py': (True, 1e-5),
    'centermask-lite-mb_r50-caffe_fpn_ms-4x_coco.py': (True, 0.0),
}


@pytest.mark.parametrize('config', sorted(RESNET_CONFIGS))
def test_resnet_whole_checkpoint_round_trips_and_computes_detectron2s_function(config):
    model, _ = build_detector(CFG / config)
    ours = random_state(model)
    ckpt = to_detectron2(ours, resnet.inverse_key)
    # The scheme the synthetic checkpoint follows (detectron2 names, FrozenBN without a
    # counter, conv1.norm nesting, shortcut).
    assert ckpt[BOTTOM_UP + 'stem.conv1.weight'].shape == (64, 3, 7, 7)
    assert ckpt[BOTTOM_UP + 'res2.0.shortcut.norm.running_var'].shape == (256,)
    assert ckpt[BOTTOM_UP + 'res5.2.conv3.weight'].shape == (2048, 512, 1, 1)
    assert not any('num_batches_tracked' in k for k in ckpt)

    conversion = cm2.convert_checkpoint(ckpt)
    assert conversion.family == 'resnet'
    assert conversion.backbone_info == dict(type='ResNet', depth=50)
    assert_same(conversion.state_dict, ours)
    loaded = load_strict(CFG / config, conversion.state_dict)

    stride_in_1x1, eps = RESNET_CONFIGS[config]
    assert_same_function(
        loaded.backbone, lambda x: detectron2_resnet(x, bottom_up(ckpt), stride_in_1x1, eps=eps),
        seed=1)


def test_resnet_style_matters_for_the_function():
    """The functional check above can fail: pytorch-style stride gives other outputs."""
    model, _ = build_detector(CFG / 'centermask_r50-caffe_fpn_ms-3x_coco.py')
    ours = random_state(model)
    ckpt = bottom_up(to_detectron2(ours, resnet.inverse_key))
    loaded = load_strict(CFG / 'centermask_r50-caffe_fpn_ms-3x_coco.py', ours)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        wrong = detectron2_resnet(x, ckpt, stride_in_1x1=False)[0]
        assert not torch.allclose(loaded.backbone(x)[0], wrong, atol=1e-3)


def test_resnext_101_32x8d_keys_shapes_and_inferred_arch():
    config = CFG / 'centermask_x101-32x8d-bgr_fpn_ms-3x_coco.py'
    model, _ = build_detector(config)  # meta: keys and shapes only (114 M parameters)
    ckpt = to_detectron2(model.state_dict(), resnet.inverse_key)
    assert ckpt[BOTTOM_UP + 'res2.0.conv2.weight'].shape == (256, 8, 3, 3)  # 32 groups x 8
    assert ckpt[BOTTOM_UP + 'res4.22.conv3.weight'].shape == (1024, 1024, 1, 1)  # 32 x 32
    result = resnet.convert(bottom_up(ckpt))
    assert not result.unknown
    assert result.info == dict(type='ResNeXt', depth=101, groups=32, base_width=8)
    backbone = {f'backbone.{k}': v for k, v in result.state_dict.items()}
    assert {k: v.shape for k, v in backbone.items()} == {
        k: v.shape for k, v in model.state_dict().items() if k.startswith('backbone.')}


def test_resnet_dcn_offsets_map_into_the_deformable_conv():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    with torch.device('meta'):
        net = MODELS.build(dict(
            type='ResNet', depth=50, style='caffe', norm_cfg=dict(type='BN', requires_grad=False),
            dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
            stage_with_dcn=(False, True, True, True)))
    ours = random_state(net)
    d2 = {resnet.inverse_key(k): v for k, v in ours.items() if resnet.inverse_key(k)}
    # detectron2: the modulated offset conv sits beside conv2 (27 = 3 x 3 x 3 channels).
    assert d2['res3.0.conv2_offset.weight'].shape == (27, 128, 3, 3)
    assert 'res3.0.conv2_offset.bias' in d2 and 'res2.0.conv2_offset.weight' not in d2
    result = resnet.convert(d2)
    assert result.info['stage_with_dcn'] == (False, True, True, True)
    assert result.info['dcn'] == dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)
    assert_same(result.state_dict, ours)
    rebuilt = resnet.build(result.info)
    check_against_model(result.state_dict, rebuilt)


def test_resnet_unknown_keys_are_named():
    model, _ = build_detector(CFG / 'centermask_r50-caffe_fpn_ms-3x_coco.py')
    ckpt = to_detectron2(model.state_dict(), resnet.inverse_key)
    ckpt[BOTTOM_UP + 'res2.0.conv4.weight'] = torch.zeros(1)
    ckpt[BOTTOM_UP + 'res6.0.conv1.weight'] = torch.zeros(1)
    ckpt['roi_heads.box_head.fc1.weight'] = torch.zeros(1)
    result = resnet.convert(bottom_up(ckpt))
    assert sorted(result.unknown) == ['res2.0.conv4.weight', 'res6.0.conv1.weight']
    with pytest.raises(cm2.ConversionError) as err:
        cm2.convert_checkpoint(ckpt)
    for key in ('backbone.bottom_up.res2.0.conv4.weight', 'backbone.bottom_up.res6.0.conv1.weight',
                'roi_heads.box_head.fc1.weight'):
        assert key in str(err.value)


def test_resnet_bad_depth_is_an_error():
    model, _ = build_detector(CFG / 'centermask_r50-caffe_fpn_ms-3x_coco.py')
    d2 = bottom_up(to_detectron2(model.state_dict(), resnet.inverse_key))
    d2 = {k: v for k, v in d2.items() if not k.startswith('res4.5.')}
    with pytest.raises(cm2.ConversionError, match=r'blocks per stage \[3, 4, 5, 3\]'):
        resnet.convert(d2)


# ------------------------------------------------------------------------- MobileNetV2
MNV2_CONFIGS = {
    'centermask-lite_mobilenetv2-bgr_fpn_ms-4x_coco.py': 1e-5,  # detectron2 FrozenBN
    'centermask-lite-mb_mobilenetv2_fpn_ms-4x_coco.py': 0.0,  # maskrcnn-benchmark: no eps
}


@pytest.mark.parametrize('config', sorted(MNV2_CONFIGS))
def test_mobilenet_v2_round_trips_and_computes_centermask2s_function(config):
    model, _ = build_detector(CFG / config)
    ours = random_state(model, seed=3)
    ckpt = to_detectron2(ours, mnv2.inverse_key)
    backbone = bottom_up(ckpt)
    # centermask2's layout: stem features.0.{0,1}; expansion-1 block features.1 (dw, pw);
    # 16 expansion-6 blocks (pw, dw, pw-linear at .0/.3/.6, BNs at .1/.4/.7).
    assert backbone['features.0.0.weight'].shape == (32, 3, 3, 3)
    assert backbone['features.1.conv.0.weight'].shape == (32, 1, 3, 3)
    assert backbone['features.1.conv.3.weight'].shape == (16, 32, 1, 1)
    assert backbone['features.2.conv.0.weight'].shape == (96, 16, 1, 1)
    assert backbone['features.6.conv.7.running_var'].shape == (32,)
    assert backbone['features.13.conv.6.weight'].shape == (96, 576, 1, 1)
    assert backbone['features.17.conv.6.weight'].shape == (320, 960, 1, 1)
    assert len(backbone) == 51 * 5  # 51 convs, each with a 4-tensor FrozenBN
    assert not any(k.startswith('features.18') for k in backbone)

    conversion = cm2.convert_checkpoint(ckpt)
    assert conversion.family == 'mobilenetv2'
    assert_same(conversion.state_dict, ours)
    loaded = load_strict(CFG / config, conversion.state_dict)

    assert_same_function(
        loaded.backbone, lambda x: centermask2_mobilenet_v2(x, backbone, eps=MNV2_CONFIGS[config]),
        seed=2)


def test_mobilenet_v2_imagenet_file_keeps_the_last_conv_and_skips_the_classifier():
    model, _ = build_detector(CFG / 'centermask-lite_mobilenetv2-bgr_fpn_ms-4x_coco.py')
    backbone = {k[len('backbone.'):]: v for k, v in random_state(model).items()
                if k.startswith('backbone.')}
    source = {mnv2.inverse_key(k): v for k, v in backbone.items() if mnv2.inverse_key(k)}
    source['features.18.0.weight'] = torch.randn(1280, 320, 1, 1)
    for stat in ('weight', 'bias', 'running_mean', 'running_var'):
        source[f'features.18.1.{stat}'] = torch.rand(1280) + 0.5
    source['classifier.1.weight'] = torch.randn(1000, 1280)
    result = mnv2.convert(source)
    assert not result.unknown and result.skipped == ['classifier.1.weight']
    assert result.info['out_indices'] == (2, 4, 6, 7)
    check_against_model(result.state_dict, mnv2.build(result.info))


def test_mobilenet_v2_unknown_keys_are_named():
    model, _ = build_detector(CFG / 'centermask-lite_mobilenetv2-bgr_fpn_ms-4x_coco.py')
    ckpt = to_detectron2(model.state_dict(), mnv2.inverse_key)
    ckpt[BOTTOM_UP + 'features.3.conv.9.weight'] = torch.zeros(1)
    ckpt[BOTTOM_UP + 'features.19.conv.0.weight'] = torch.zeros(1)
    with pytest.raises(cm2.ConversionError) as err:
        cm2.convert_checkpoint(ckpt)
    assert 'backbone.bottom_up.features.3.conv.9.weight' in str(err.value)
    assert 'backbone.bottom_up.features.19.conv.0.weight' in str(err.value)


def test_each_family_claims_only_its_own_keys():
    schemes = {
        'resnet': 'centermask_r50-caffe_fpn_ms-3x_coco.py',
        'mobilenetv2': 'centermask-lite_mobilenetv2-bgr_fpn_ms-4x_coco.py',
    }
    for family, config in schemes.items():
        model, _ = build_detector(CFG / config)
        inverse = resnet.inverse_key if family == 'resnet' else mnv2.inverse_key
        keys = frozenset(bottom_up(to_detectron2(model.state_dict(), inverse)))
        assert detect_backbone(keys).name == family
    fixture = torch.load(FIXTURE, map_location='cpu', weights_only=True)['model']
    vovnet_keys = frozenset(bottom_up(fixture))
    assert not resnet.detect(vovnet_keys) and not mnv2.detect(vovnet_keys)


# ------------------------------------------------------------------ maskrcnn-benchmark
def test_maskrcnn_benchmark_names_convert_like_centermask2s():
    """The fixture's centermask2 checkpoint, renamed to maskrcnn-benchmark's scheme (with
    the 81-class predictors and the 'module.' prefix), converts to the same weights."""
    c2 = {k: v.float() for k, v in
          torch.load(FIXTURE, map_location='cpu', weights_only=True)['model'].items()}
    original = mb.inverse(c2)
    assert all(k.startswith('module.') for k in original)
    assert original['module.roi_heads.mask.predictor.mask_fcn_logits.weight'].shape[0] == 81
    assert original['module.roi_heads.maskiou.predictor.maskiou.bias'].shape == (81,)
    assert original['module.rpn.head.cls_logits.weight'].shape[0] == 80
    assert 'module.backbone.fpn.fpn_inner2.weight' in original  # reads C3
    assert 'module.backbone.fpn.top_blocks.p7.bias' in original
    assert 'module.rpn.head.centerness.weight' in original
    assert 'module.roi_heads.mask.feature_extractor.spatialAtt.conv.weight' in original
    assert_same(mb.adapt(original), c2)  # exact round trip

    ours = cm2.convert_checkpoint(c2)
    theirs = cm2.convert_checkpoint(original)
    assert theirs.scheme == 'maskrcnn_benchmark' and theirs.family == 'vovnet'
    assert_same(theirs.state_dict, ours.state_dict)


def test_maskrcnn_benchmark_resnet_lite_loads_into_its_config():
    config = CFG / 'centermask-lite-mb_r50-caffe_fpn_ms-4x_coco.py'
    model, _ = build_detector(config)
    ours = random_state(model, seed=5)
    original = mb.inverse(to_detectron2(ours, resnet.inverse_key))
    # maskrcnn-benchmark's ResNet names (stem.bn1, layer{k}.{i}.bn{j}, downsample.{0,1}).
    for key in ('module.backbone.body.stem.bn1.running_var',
                'module.backbone.body.layer1.0.downsample.1.weight',
                'module.backbone.body.layer4.2.bn3.bias',
                'module.backbone.fpn.fpn_layer4.weight'):
        assert key in original, key
    conversion = cm2.convert_checkpoint(original)
    assert (conversion.scheme, conversion.family) == ('maskrcnn_benchmark', 'resnet')
    assert_same(conversion.state_dict, ours)
    load_strict(config, conversion.state_dict)


def test_maskrcnn_benchmark_problems_are_named():
    c2 = {k: v.float() for k, v in
          torch.load(FIXTURE, map_location='cpu', weights_only=True)['model'].items()}
    original = mb.inverse(c2)
    original['module.rpn.head.anchor_generator.cell_anchors.0'] = torch.zeros(1)
    with pytest.raises(cm2.ConversionError, match=r'rpn\.head\.anchor_generator'):
        cm2.convert_checkpoint(original)
    del original['module.rpn.head.anchor_generator.cell_anchors.0']
    key = 'module.roi_heads.maskiou.predictor.maskiou.weight'
    original[key] = original[key][1:]  # 80 rows: not a maskrcnn-benchmark COCO head
    with pytest.raises(cm2.ConversionError, match=re.escape(key)):
        cm2.convert_checkpoint(original)
