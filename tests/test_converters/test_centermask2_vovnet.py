"""VoVNet family of the centermask2 converter: vovnet-detectron2 keys (spec §1.7).

The synthetic checkpoints are built here from the detectron2 naming scheme and the
spec's shapes, independently of the converter's rules; a functional re-statement of
the detectron2 network on those keys checks that the converted model computes the
same function, not only that the keys line up.
"""
from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F

from centermask_mm.converters import centermask2 as cm2
from centermask_mm.converters.centermask2 import vovnet as conv
from centermask_mm.converters.centermask2.__main__ import main
from centermask_mm.models.backbones.vovnet import VoVNet

ARCHS = list(VoVNet.arch_settings)


class TinyVoVNet(VoVNet):
    """Narrow test arch with several OSA modules per stage (identity paths)."""

    arch_settings = {**VoVNet.arch_settings, 'tiny': dict(
        stem_channels=(8, 8, 16), stage_mid_channels=(8, 8, 8, 8),
        stage_out_channels=(16, 24, 32, 32), layers_per_block=2,
        blocks_per_stage=(2, 1, 2, 3), depthwise=False)}


def make_detectron2_state_dict(arch: str, dcn_stages: tuple[int, ...] = (),
                               ese: bool = True, seed: int = 0,
                               device: str = 'cpu',
                               table: dict | None = None) -> dict[str, torch.Tensor]:
    """A random detectron2-style VoVNet state dict (FrozenBN buffers, '/' names).

    With ``device='meta'`` the tensors carry shapes only (for the big archs).
    """
    meta = device == 'meta'
    gen = torch.Generator().manual_seed(seed)
    s = (table or VoVNet.arch_settings)[arch]
    dw = s['depthwise']
    sd: dict[str, torch.Tensor] = {}

    def rand(*shape: int, scale: float = 0.1) -> torch.Tensor:
        if meta:
            return torch.empty(*shape, device='meta')
        return torch.randn(*shape, generator=gen) * scale

    def norm(name: str, c: int) -> None:
        sd[f'{name}.weight'] = 1 + rand(c)
        sd[f'{name}.bias'] = rand(c)
        sd[f'{name}.running_mean'] = rand(c)
        sd[f'{name}.running_var'] = rand(c).abs() + 0.5

    def unit(name: str, cin: int, cout: int, k: int = 3, sep: bool = False,
             dcn: bool = False) -> None:
        if sep:
            sd[f'{name}/dw_conv3x3.weight'] = rand(cin, 1, 3, 3, scale=0.3)
            sd[f'{name}/pw_conv1x1.weight'] = rand(cout, cin, 1, 1, scale=(1 / cin) ** 0.5)
            norm(f'{name}/pw_norm', cout)
        else:
            sd[f'{name}/conv.weight'] = rand(cout, cin, k, k, scale=(1 / (cin * k * k)) ** 0.5)
            norm(f'{name}/norm', cout)
            if dcn:
                sd[f'{name}/conv_offset.weight'] = rand(27, cin, 3, 3, scale=0.01)
                sd[f'{name}/conv_offset.bias'] = rand(27, scale=0.01)

    c1, c2, c3 = s['stem_channels']
    unit('stem.stem_1', 3, c1)
    unit('stem.stem_2', c1, c2, sep=dw)
    unit('stem.stem_3', c2, c3, sep=dw)
    cin = c3
    for i, stage in enumerate(range(2, 6)):
        mid, out = s['stage_mid_channels'][i], s['stage_out_channels'][i]
        for b in range(1, s['blocks_per_stage'][i] + 1):
            name = f'stage{stage}.OSA{stage}_{b}'
            layer_in = cin
            if dw and cin != mid:
                unit(f'{name}.conv_reduction.OSA{stage}_{b}_reduction_0', cin, mid, k=1)
                layer_in = mid
            for j in range(s['layers_per_block']):
                unit(f'{name}.layers.{j}.OSA{stage}_{b}_{j}', layer_in, mid, sep=dw,
                     dcn=stage in dcn_stages)
                layer_in = mid
            unit(f'{name}.concat.OSA{stage}_{b}_concat', cin + s['layers_per_block'] * mid,
                 out, k=1)
            if ese:
                sd[f'{name}.ese.fc.weight'] = rand(out, out, 1, 1, scale=(1 / out) ** 0.5)
                sd[f'{name}.ese.fc.bias'] = rand(out)
            cin = out
    return sd


def detectron2_forward(sd: dict[str, torch.Tensor], arch: str, x: torch.Tensor,
                       residual: bool = True, table: dict | None = None) -> list[torch.Tensor]:
    """The centermask2 VoVNet-eSE forward (spec §1.2-1.4), written on the raw keys."""
    s = (table or VoVNet.arch_settings)[arch]

    def unit(name: str, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
        if f'{name}/dw_conv3x3.weight' in sd:
            w = sd[f'{name}/dw_conv3x3.weight']
            x = F.conv2d(x, w, stride=stride, padding=1, groups=w.shape[0])
            x = F.conv2d(x, sd[f'{name}/pw_conv1x1.weight'])
            bn = f'{name}/pw_norm'
        else:
            w = sd[f'{name}/conv.weight']
            x = F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2)
            bn = f'{name}/norm'
        x = F.batch_norm(x, sd[f'{bn}.running_mean'], sd[f'{bn}.running_var'],
                         sd[f'{bn}.weight'], sd[f'{bn}.bias'], training=False, eps=1e-5)
        return F.relu(x)

    x = unit('stem.stem_3', unit('stem.stem_2', unit('stem.stem_1', x, 2)), 2)
    outs = []
    for i, stage in enumerate(range(2, 6)):
        if stage > 2:
            x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        for b in range(1, s['blocks_per_stage'][i] + 1):
            name = f'stage{stage}.OSA{stage}_{b}'
            reduction = f'{name}.conv_reduction.OSA{stage}_{b}_reduction_0'
            y = unit(reduction, x) if f'{reduction}/conv.weight' in sd else x
            feats = [x]
            for j in range(s['layers_per_block']):
                y = unit(f'{name}.layers.{j}.OSA{stage}_{b}_{j}', y)
                feats.append(y)
            y = unit(f'{name}.concat.OSA{stage}_{b}_concat', torch.cat(feats, 1))
            gate = F.conv2d(y.mean((2, 3), keepdim=True), sd[f'{name}.ese.fc.weight'],
                            sd[f'{name}.ese.fc.bias'])
            y = y * F.relu6(gate + 3) / 6
            x = y + x if residual and b > 1 else y
        outs.append(x)
    return outs


def _meta_vovnet(**kwargs) -> VoVNet:
    with torch.device('meta'):
        return VoVNet(**kwargs)


@pytest.mark.parametrize('arch', ARCHS)
def test_every_key_maps_and_loads_strict(arch):
    source = make_detectron2_state_dict(arch, device='meta')
    result = conv.convert_state_dict(source)
    assert not result.unknown and not result.skipped
    assert sorted(result.key_map) == sorted(source)  # every source key maps ...
    assert len(set(result.key_map.values())) == len(source)  # ... to its own target
    kwargs = conv.infer_backbone_kwargs(result.state_dict)
    assert kwargs == dict(arch=arch, attention='ese', stage_with_dcn=(False,) * 4)
    model = _meta_vovnet(**kwargs)
    cm2.check_against_model(result.state_dict, model)
    # assign=True: meta tensors cannot be copied; strict key and shape checks still run.
    model.load_state_dict(result.state_dict, strict=True, assign=True)


@pytest.mark.parametrize('model_cls,arch', [(VoVNet, 'V-19-slim-dw'), (VoVNet, 'V-19-dw'),
                                            (TinyVoVNet, 'tiny')])
def test_converted_model_computes_the_detectron2_function(model_cls, arch):
    table = model_cls.arch_settings
    source = make_detectron2_state_dict(arch, seed=1, table=table)
    model = model_cls(arch=arch).eval()
    model.load_state_dict(conv.convert_state_dict(source).state_dict, strict=True)
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(x)
        reference = detectron2_forward(source, arch, x, table=table)
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_spec_example_keys_land_where_expected():
    source = make_detectron2_state_dict('V-19-slim-dw')
    state = conv.convert_state_dict(source).state_dict
    pairs = {
        'stem.stem_1/conv.weight': 'stem.0.conv.weight',
        'stem.stem_1/norm.running_var': 'stem.0.bn.running_var',
        'stem.stem_2/dw_conv3x3.weight': 'stem.1.depthwise_conv.conv.weight',
        'stem.stem_3/pw_conv1x1.weight': 'stem.2.pointwise_conv.conv.weight',
        'stem.stem_3/pw_norm.bias': 'stem.2.pointwise_conv.bn.bias',
        'stage2.OSA2_1.layers.2.OSA2_1_2/pw_conv1x1.weight':
            'stage2.osa1.layers.2.pointwise_conv.conv.weight',
        'stage2.OSA2_1.concat.OSA2_1_concat/conv.weight': 'stage2.osa1.concat.conv.weight',
        'stage2.OSA2_1.ese.fc.weight': 'stage2.osa1.attn.fc.weight',
        'stage3.OSA3_1.conv_reduction.OSA3_1_reduction_0/conv.weight':
            'stage3.osa1.reduction.conv.weight',
        'stage5.OSA5_1.concat.OSA5_1_concat/norm.running_mean':
            'stage5.osa1.concat.bn.running_mean',
    }
    for src, dst in pairs.items():
        assert torch.equal(state[dst], source[src]), (src, dst)
    # FrozenBN has no counter; the converter adds the one nn.BatchNorm2d expects.
    assert state['stem.0.bn.num_batches_tracked'].item() == 0


def test_detector_checkpoint_prefix_and_skipped_keys():
    backbone = make_detectron2_state_dict('V-19-slim')
    source = {f'backbone.bottom_up.{k}': v for k, v in backbone.items()}
    source['backbone.fpn_lateral3.weight'] = torch.zeros(256, 256, 1, 1)
    source['proposal_generator.fcos_head.cls_logits.bias'] = torch.zeros(80)
    result = conv.convert_state_dict(source)
    assert sorted(result.skipped) == ['backbone.fpn_lateral3.weight',
                                      'proposal_generator.fcos_head.cls_logits.bias']
    assert not result.unknown and len(result.key_map) == len(backbone)


def test_unknown_keys_are_reported_by_name(tmp_path, capsys):
    source = make_detectron2_state_dict('V-19-slim')
    source['stage2.OSA2_1.layers.0.OSA2_1_0/bogus.weight'] = torch.zeros(1)
    source['classifier.fc.weight'] = torch.zeros(1000, 512)
    result = conv.convert_state_dict(source)
    assert sorted(result.unknown) == ['classifier.fc.weight',
                                      'stage2.OSA2_1.layers.0.OSA2_1_0/bogus.weight']
    src = tmp_path / 'in.pth'
    torch.save(source, src)
    with pytest.raises(cm2.ConversionError, match='classifier.fc.weight'):
        cm2.convert_file(src, tmp_path / 'out.pth')
    assert main([str(src), str(tmp_path / 'out.pth')]) == 1
    assert 'OSA2_1_0/bogus.weight' in capsys.readouterr().err
    assert not (tmp_path / 'out.pth').exists()
    meta = cm2.convert_file(src, tmp_path / 'out.pth', ignore_unknown=True)
    assert meta['skipped_keys'] == sorted(result.unknown)
    assert meta['backbone']['arch'] == 'V-19-slim'


def test_shape_mismatch_and_missing_keys_are_named():
    state = conv.convert_state_dict(make_detectron2_state_dict('V-19-slim')).state_dict
    state['stage3.osa1.concat.conv.weight'] = torch.zeros(7, 7, 1, 1)
    del state['stage4.osa1.attn.fc.bias']
    with pytest.raises(cm2.ConversionError) as info:
        cm2.check_against_model(state, _meta_vovnet(arch='V-19-slim'))
    message = str(info.value)
    assert 'stage3.osa1.concat.conv.weight: checkpoint (7, 7, 1, 1)' in message
    assert 'missing keys (1): stage4.osa1.attn.fc.bias' in message


def test_unknown_structure_is_rejected():
    state = conv.convert_state_dict(make_detectron2_state_dict('V-39')).state_dict
    state = {k: v for k, v in state.items() if not k.startswith('stage5.osa2.')}
    with pytest.raises(cm2.ConversionError, match='no known VoVNet arch'):
        conv.infer_backbone_kwargs(state)


def test_cli_round_trip_and_pretrained_init(tmp_path, capsys):
    source = make_detectron2_state_dict('V-19-slim-dw', seed=3)
    src, dst = tmp_path / 'vovnet19_ese_slim_dw_detectron2.pth', tmp_path / 'out' / 'v.pth'
    torch.save({'model': source, 'iteration': 5}, src)
    assert main([str(src), str(dst)]) == 0
    assert 'V-19-slim-dw' in capsys.readouterr().out
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['backbone']['arch'] == 'V-19-slim-dw'
    assert ckpt['meta']['converted'] == len(source)
    model = VoVNet(arch='V-19-slim-dw', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    torch.testing.assert_close(model.stage4.osa1.attn.fc.weight,
                               source['stage4.OSA4_1.ese.fc.weight'])
    # --prefix makes keys for a whole detector's load_from.
    assert main([str(src), str(tmp_path / 'det.pth'), '--prefix', 'backbone.']) == 0
    keys = torch.load(tmp_path / 'det.pth', weights_only=True)['state_dict']
    assert all(k.startswith('backbone.stem.') or k.startswith('backbone.stage') for k in keys)


def test_detectron2_pickle_of_numpy_arrays(tmp_path):
    source = make_detectron2_state_dict('V-19-slim')
    path = tmp_path / 'model_final.pkl'
    with path.open('wb') as f:
        pickle.dump({'model': {f'backbone.bottom_up.{k}': v.numpy() for k, v in source.items()},
                     '__author__': 'test'}, f)
    meta = cm2.convert_file(path, tmp_path / 'out.pth', backbone_only=True)
    assert meta['backbone']['arch'] == 'V-19-slim' and meta['skipped'] == 0
    state = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    assert torch.equal(state['stem.0.conv.weight'], source['stem.stem_1/conv.weight'])


def test_missing_or_empty_input_file(tmp_path):
    with pytest.raises(cm2.ConversionError, match='no such file'):
        cm2.load_source(tmp_path / 'nope.pth')
    torch.save({}, tmp_path / 'empty.pth')
    with pytest.raises(cm2.ConversionError, match='state dict'):
        cm2.load_source(tmp_path / 'empty.pth')


def test_dcn_stages_are_detected():
    pytest.importorskip('mmcv.ops')
    source = make_detectron2_state_dict('V-39', dcn_stages=(3, 4, 5), device='meta')
    result = conv.convert_state_dict(source)
    assert not result.unknown
    assert result.key_map['stage3.OSA3_1.layers.0.OSA3_1_0/conv_offset.weight'] == \
        'stage3.osa1.layers.0.conv.conv_offset.weight'
    kwargs = conv.infer_backbone_kwargs(result.state_dict)
    assert kwargs['stage_with_dcn'] == (False, True, True, True)
    model = _meta_vovnet(**kwargs)
    cm2.check_against_model(result.state_dict, model)
    # assign=True: meta tensors cannot be copied; strict key and shape checks still run.
    model.load_state_dict(result.state_dict, strict=True, assign=True)
