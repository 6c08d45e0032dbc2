"""The configs that mirror published CenterMask models (configs/centermask/metafile.yml):
the model index is complete and consistent, every config builds, and each one carries the
preprocessing, widths, test settings and RoIAlign of the reference config it mirrors."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from centermask_mm.utils import count_params

REPO = Path(__file__).resolve().parents[2]
METAFILE = REPO / 'configs/centermask/metafile.yml'
META = yaml.safe_load(METAFILE.read_text())
MODELS_META = {m['Name']: m for m in META['Models']}
NAMES = sorted(MODELS_META)

# Issue 14's list of published model families -> the model-index entries that carry
# published weights for them (at least one each).
REQUIRED_FAMILIES = {
    'CenterMask R-50': ['centermask-mb_r50-caffe_fpn_ms-2x_coco',
                        'centermask-mb_r50-caffe_fpn_ms-3x_coco'],
    'CenterMask R-101': ['centermask-mb_r101-caffe_fpn_ms-2x_coco',
                         'centermask-mb_r101-caffe_fpn_ms-3x_coco'],
    'CenterMask X-101': ['centermask-mb_x101-32x8d_fpn_ms-2x_coco',
                         'centermask-mb_x101-32x8d_fpn_ms-3x_coco'],
    'CenterMask V-39': ['centermask_v2-39-ese_fpn_ms-3x_coco'],
    'CenterMask V-57': ['centermask_v2-57-ese_fpn_ms-3x_coco'],
    'CenterMask V-99': ['centermask_v2-99-ese_fpn_ms-3x_coco'],
    'CenterMask V-39 DCN': ['centermask_v2-39-ese-dconv-c3-c5_fpn_ms-3x_coco'],
    'CenterMask V-57 DCN': ['centermask_v2-57-ese-dconv-c3-c5_fpn_ms-3x_coco'],
    'CenterMask V-99 DCN': ['centermask_v2-99-ese-dconv-c3-c5_fpn_ms-3x_coco'],
    'CenterMask-Lite MobileNetV2': ['centermask-lite_mobilenetv2-bgr_fpn_ms-4x_coco'],
    'CenterMask-Lite V-19': ['centermask-lite_v2-19-ese_fpn_ms-4x_coco'],
    'CenterMask-Lite V-19-slim': ['centermask-lite_v2-19-slim-ese_fpn_ms-4x_coco'],
    'CenterMask-Lite V-19-slim-dw': ['centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco'],
    'CenterMask-Lite R-50': ['centermask-lite-mb_r50-caffe_fpn_ms-4x_coco'],
    'CenterMask-Lite V-39': ['centermask-lite_v2-39-ese_fpn_ms-4x_coco'],
}

D2_MEAN = [103.53, 116.28, 123.675]  # detectron2 PIXEL_MEAN (BGR)
MB_MEAN = [102.9801, 115.9465, 122.7717]  # maskrcnn-benchmark PIXEL_MEAN (BGR)
D2_X101_STD = [57.375, 57.12, 58.395]  # centermask_X_101_FPN_ms_3x.yaml PIXEL_STD

# Whole-model parameters (millions, BN affine excluded as with FrozenBN) computed from the
# reference architectures in shared/reference/centermask-spec.md (sections 6 and 7.3), to
# two decimals; paper Table 3 (one decimal, truncated) for.
PAPER_PARAMS_M = {
    'centermask_r101-caffe_fpn_ms-3x_coco': 70.1,
    'centermask_x101-32x8d-bgr_fpn_ms-3x_coco': 114.3,
}
SPEC_PARAMS_M = {
    'centermask_r50-caffe_fpn_ms-3x_coco': 51.23,
    'centermask_v2-39-ese_fpn_ms-3x_coco': 52.61,
    'centermask_v2-57-ese_fpn_ms-3x_coco': 68.87,
    'centermask_v2-99-ese_fpn_ms-3x_coco': 96.91,
    'centermask-lite_v2-19-ese_fpn_ms-4x_coco': 20.12,
    'centermask-lite_v2-39-ese_fpn_ms-4x_coco': 35.11,
    'centermask-lite_v2-19-slim-ese_fpn_ms-4x_coco': 12.45,
    'centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco': 11.18,
}


def _strip_pretrained(node) -> None:
    """Drop every ``Pretrained`` init_cfg (no weights on disk in tests)."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        for value in node.values():
            _strip_pretrained(value)
    elif isinstance(node, list):
        for value in node:
            _strip_pretrained(value)


def _config(name: str) -> Config:
    register_all_modules()
    return Config.fromfile(str(REPO / MODELS_META[name]['Config']))


@pytest.fixture(scope='module')
def built() -> dict[str, tuple[Config, torch.nn.Module]]:
    out = {}
    for name in NAMES:
        cfg = _config(name)
        _strip_pretrained(cfg.model)
        with torch.device('meta'):  # keys and shapes only: no allocation, no init
            out[name] = (cfg, MODELS.build(cfg.model))
    return out


def test_model_index_imports_the_metafile():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index['Import'] == ['configs/centermask/metafile.yml']
    link = REPO / 'centermask_mm/.mim/model-index.yml'
    assert link.resolve() == (REPO / 'model-index.yml').resolve()


def test_mim_search_lists_every_model():
    """``mim search centermask_mm`` reads <package>/.mim/model-index.yml (local, offline)."""
    search = pytest.importorskip('mim.commands.search')
    found = search.get_model_info('centermask_mm', to_dict=True)
    assert set(found) == set(NAMES)
    v39 = found['centermask_v2-39-ese_fpn_ms-3x_coco']
    assert (v39['coco/mask_ap'], v39['coco/box_ap']) == (39.7, 44.2)
    assert v39['weight'] == 'centermask2-V-39-eSE-FPN-ms-3x.pth'


def test_metafile_entries_are_complete():
    collections = {c['Name'] for c in META['Collections']}
    assert len(NAMES) == len(META['Models']), 'duplicate model names'
    for name, model in MODELS_META.items():
        assert model['In Collection'] in collections, name
        config = REPO / model['Config']
        assert config.is_file(), f'{name}: {config} does not exist'
        assert config.stem == name, f'{name}: config file named {config.name}'
        assert model['Reference Config'].endswith('.yaml'), name
        assert model['Metadata']['Training Data'] == 'COCO', name
        assert model['Metadata']['Epochs'] in (24, 36, 48), name
        if 'Weights' not in model:
            assert 'no CenterMask weights' in model['Note'], name
            continue
        weights = model['Weights']
        # A file name only: nothing may download it at run time.
        assert re.fullmatch(r'[\w.-]+\.pth', weights), f'{name}: Weights {weights!r}'
        assert model['Weights URL'].split('?')[0].endswith('/' + weights), name
        assert model['Source'], name
        metrics = {}
        for result in model['Results']:
            assert result['Dataset'] in ('COCO', 'COCO test-dev'), name
            metrics.update(result['Metrics'])
        assert set(metrics) == {'box AP', 'mask AP'}, name
        assert 20 < metrics['mask AP'] < metrics['box AP'] < 50, name
        for timing in model['Metadata']['inference time (ms/im)']:
            assert timing['hardware'] in ('V100', 'Titan Xp') and timing['value'] > 0, name


def test_every_published_family_has_weights():
    for family, names in REQUIRED_FAMILIES.items():
        for name in names:
            assert name in MODELS_META, f'{family}: {name} missing from the metafile'
            assert MODELS_META[name].get('Weights'), f'{family}: {name} has no Weights'


def test_every_config_mirroring_a_reference_is_indexed():
    """New reference-mirroring configs cannot be forgotten in the model index."""
    folder = REPO / 'configs/centermask'
    mirroring = {p.stem for p in folder.glob('*_coco.py')
                 if re.search(r'(-ese|-caffe|-bgr|^centermask(-lite)?-mb)_', p.stem)}
    assert mirroring <= set(NAMES), sorted(mirroring - set(NAMES))


def _is_mb(name: str) -> bool:
    return '-mb_' in name


def _is_lite(name: str) -> bool:
    return name.startswith('centermask-lite')


@pytest.mark.parametrize('name', NAMES)
def test_preprocessing_matches_the_reference(built, name):
    cfg, _ = built[name]
    pre = cfg.model.data_preprocessor
    assert pre.bgr_to_rgb is False, 'all reference models read BGR images'
    assert pre.pad_size_divisor == 32
    assert list(pre.mean) == (MB_MEAN if _is_mb(name) else D2_MEAN)
    d2_x101 = 'x101' in name and not _is_mb(name)
    assert list(pre.std) == (D2_X101_STD if d2_x101 else [1.0, 1.0, 1.0])


@pytest.mark.parametrize('name', NAMES)
def test_architecture_and_test_settings_match_the_reference(built, name):
    cfg, model = built[name]
    m = cfg.model
    width, convs = (128, 2) if _is_lite(name) else (256, 4)
    assert m.neck.out_channels == width and m.neck.num_outs == 5
    assert m.neck.add_extra_convs == 'on_output' and m.neck.relu_before_extra_convs
    assert (m.bbox_head.feat_channels, m.bbox_head.stacked_convs) == (width, convs)
    assert (m.roi_head.mask_head.conv_out_channels, m.roi_head.mask_head.num_convs) == (
        width, convs)
    assert m.roi_head.mask_roi_extractor.featmap_strides == [8, 16, 32]
    roi = m.roi_head.mask_roi_extractor.roi_layer
    fcos = m.test_cfg.fcos
    assert (fcos.nms_pre, fcos.nms.iou_threshold, fcos.max_per_img) == (1000, 0.6, 50)
    if _is_mb(name):  # maskrcnn-benchmark: legacy RoIAlign, sampling 2, exp regression
        assert (roi.output_size, roi.sampling_ratio, roi.aligned) == (14, 2, False)
        assert m.bbox_head.norm_on_bbox is False
        assert fcos.score_thr == 0.03 and m.test_cfg.postprocess == 'mmdet'
        assert m.backbone.norm_cfg.eps == 0.0  # FrozenBatchNorm2d without eps
    else:  # centermask2: ROIAlignV2, sampling 0, ReLU(scale * x) * stride
        assert (roi.output_size, roi.sampling_ratio, roi.aligned) == (14, 0, True)
        assert m.bbox_head.norm_on_bbox is True
        assert fcos.score_thr == 0.05 and m.test_cfg.postprocess == 'centermask2'
        assert m.train_cfg.fcos_proposal.score_thr == 0.05
    if m.roi_head.mask_iou_head is not None:
        assert m.roi_head.mask_iou_head.conv_out_channels == width
        assert m.roi_head.mask_iou_head.num_convs == convs
    # Test input size: 800 / 1333, CenterMask-Lite 600 / 1000.
    resize = next(t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize')
    assert tuple(resize.scale) == ((1000, 600) if _is_lite(name) else (1333, 800))
    assert model.bbox_head.num_classes == 80


@pytest.mark.parametrize('name', NAMES)
def test_backbone_style_matches_the_reference(built, name):
    cfg, model = built[name]
    backbone = cfg.model.backbone
    if backbone.type in ('ResNet', 'ResNeXt'):
        # detectron2 / maskrcnn-benchmark STRIDE_IN_1X1: True for MSRA R-50/101, False for
        # the X-101-32x8d models.
        assert backbone.style == ('pytorch' if 'x101' in name else 'caffe')
        assert backbone.frozen_stages == 1  # FREEZE_AT 2 (stem + res2)
        assert model.backbone.conv1.stride == (2, 2)
        block = model.backbone.layer2[0]
        strided = block.conv2 if 'x101' in name else block.conv1
        assert strided.stride == (2, 2)
    else:
        assert backbone.frozen_stages == -1  # FREEZE_AT 0
    assert backbone.norm_cfg.requires_grad is False and backbone.norm_eval is True
    dcn = 'dconv' in name
    assert getattr(backbone, 'stage_with_dcn', (False,) * 4) == (
        (False, True, True, True) if dcn else (False,) * 4)


@pytest.mark.parametrize('name', sorted(SPEC_PARAMS_M))
def test_parameter_counts_match_the_spec(built, name):
    _, model = built[name]
    assert count_params(model) / 1e6 == pytest.approx(SPEC_PARAMS_M[name], abs=0.006)


@pytest.mark.parametrize('name', sorted(PAPER_PARAMS_M))
def test_parameter_counts_match_the_paper(built, name):
    _, model = built[name]
    assert 0 <= count_params(model) / 1e6 - PAPER_PARAMS_M[name] < 0.1


def test_dcn_and_maskiou_free_variants_differ_only_where_named(built):
    for depth in (39, 57, 99):
        plain = count_params(built[f'centermask_v2-{depth}-ese_fpn_ms-3x_coco'][1])
        dcn = count_params(built[f'centermask_v2-{depth}-ese-dconv-c3-c5_fpn_ms-3x_coco'][1])
        assert dcn > plain  # the offset / mask convs of stage3-5
    # [CM]'s V-19 / MobileNetV2 3x and Lite MobileNetV2 configs do not set MASKIOU_ON.
    for name in ('centermask-mb_v2-19-ese_fpn_ms-3x_coco',
                 'centermask-mb_mobilenetv2_fpn_ms-3x_coco',
                 'centermask-lite-mb_mobilenetv2_fpn_ms-4x_coco'):
        assert built[name][1].roi_head.mask_iou_head is None, name
    same_arch = [('centermask-mb_v2-39-ese_fpn_ms-3x_coco',
                  'centermask_v2-39-ese_fpn_ms-3x_coco'),
                 ('centermask-lite-mb_v2-39-ese_fpn_ms-4x_coco',
                  'centermask-lite_v2-39-ese_fpn_ms-4x_coco')]
    for mb, c2 in same_arch:  # same network, different preprocessing / post-processing
        assert count_params(built[mb][1]) == count_params(built[c2][1])
