"""The converter's renaming engine (:mod:`centermask_mm.converters.centermask2.mapping`).

Small hand-written tables check each field kind in both directions; the project's own
tables (VoVNet, heads, ResNet) are checked to read back every key of the fixture and of a
ResNet model, so a table whose two sides disagree fails here.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from centermask_mm.converters.centermask2 import core, resnet, vovnet
from centermask_mm.converters.centermask2.mapping import (
    Index,
    Names,
    Renamed,
    Rule,
    Rules,
    add_bn_counters,
    rename_state,
)
from centermask_mm.converters.centermask2.registry import ConversionError

FIXTURE = (Path(__file__).resolve().parents[2]
           / 'tests/data/centermask2/centermask2_lite_V_19_slim_dw_eSE_random.pth')


def _double(key: str, t: torch.Tensor) -> torch.Tensor:
    return t * 2


def _halve(key: str, t: torch.Tensor) -> torch.Tensor:
    return t / 2


TABLE = Rules(
    dict(s=Index(1, src='[2-5]', dst='[1-4]'), b=r'\d+', p='weight|bias',
         part=Names({'norm': 'bn', 'conv': 'conv'}),
         conv=Index(0, step=3), gn=Index(1, step=3)),
    [('res{s}.OSA{s}_{b}/{part}.{p}', 'layer{s}.block{b}.{part}.{p}'),
     ('tower.{conv}.{p}', 'convs.{conv}.conv.{p}'),
     ('tower.{gn}.{p}', 'convs.{gn}.gn.{p}'),
     Rule('legacy.{b}.{p}', 'new.{b}.{p}', reversible=False),
     Rule('scaled.{p}', 'new.0.{p}', _double, _halve)])


@pytest.mark.parametrize('theirs,ours', [
    ('res2.OSA2_7/norm.weight', 'layer1.block7.bn.weight'),
    ('res5.OSA5_1/conv.bias', 'layer4.block1.conv.bias'),
    ('tower.0.weight', 'convs.0.conv.weight'),
    ('tower.4.bias', 'convs.1.gn.bias'),
    ('tower.9.weight', 'convs.3.conv.weight'),
])
def test_a_key_maps_both_ways(theirs, ours):
    assert TABLE.new_key(theirs) == ours
    assert TABLE.new_key(ours, reverse=True) == theirs


@pytest.mark.parametrize('key', [
    'res2.OSA3_1/norm.weight',  # a repeated field must repeat its text
    'res6.OSA6_1/norm.weight',  # outside the field's regex
    'res2.OSA2_1/bn.weight',  # a Names field reads only its src words
    'tower.2.weight',  # index 3i+2 (a ReLU) is on neither step: no rule applies
    'tower.0.running_mean',
    'xres2.OSA2_1/norm.weight',  # templates match whole keys
])
def test_keys_no_rule_covers_map_to_none(key):
    assert TABLE.rename(key) is None


def test_one_way_rules_and_transforms():
    assert TABLE.new_key('legacy.3.weight') == 'new.3.weight'
    assert TABLE.new_key('new.3.weight', reverse=True) is None  # not read backwards
    forward = TABLE.rename('scaled.bias')
    assert forward == Renamed('new.0.bias', _double)
    assert TABLE.rename('new.0.bias', reverse=True) == Renamed('scaled.bias', _halve)


def test_bad_tables_are_rejected():
    with pytest.raises(ValueError, match=r"'a\.\{x\}'.*field 'x' is not declared"):
        Rules({}, [('a.{x}', 'b')])
    with pytest.raises(ValueError, match='not unique'):
        Names({'norm': 'bn', 'bn': 'bn'})


def test_rename_state_fills_in_order_and_names_problems():
    source = {'scaled.weight': torch.ones(2), 'odd': torch.zeros(1),
              'tower.1.weight': torch.full((2,), 3.0)}
    state, key_map = {}, {}
    unknown = rename_state(source, TABLE.rename, state, key_map)
    assert unknown == ['odd']
    assert list(state) == ['new.0.weight', 'convs.0.gn.weight']
    assert torch.equal(state['new.0.weight'], torch.full((2,), 2.0))
    assert key_map == {'scaled.weight': 'new.0.weight', 'tower.1.weight': 'convs.0.gn.weight'}
    source['scaled.weight'].add_(1)  # the default copies: the result does not alias source
    assert torch.equal(state['new.0.weight'], torch.full((2,), 2.0))
    with pytest.raises(ConversionError, match=r"two source keys map to 'new\.0\.weight'; "
                                              r"the second is 'legacy\.0\.weight'"):
        rename_state({'legacy.0.weight': torch.zeros(1)}, TABLE.rename, state, {})
    with pytest.raises(ConversionError, match=r"key 'tower\.0\.bias' holds a list"):
        rename_state({'tower.0.bias': [1.0]}, TABLE.rename, {}, {})


def test_bn_counters_are_added_once():
    state = {'bn.running_mean': torch.zeros(2), 'done.running_mean': torch.zeros(2),
             'done.num_batches_tracked': torch.tensor(7)}
    add_bn_counters(state)
    assert state['bn.num_batches_tracked'].dtype == torch.long
    assert state['bn.num_batches_tracked'].item() == 0
    assert state['done.num_batches_tracked'].item() == 7


def _reads_back(rules: Rules, keys) -> None:
    for key in keys:
        ours = rules.new_key(key)
        assert ours is not None, key
        assert rules.new_key(ours, reverse=True) == key


def test_project_tables_read_back_every_key():
    fixture = torch.load(FIXTURE, map_location='cpu', weights_only=True)['model']
    backbone = [k.removeprefix(core.BOTTOM_UP) for k in fixture if k.startswith(core.BOTTOM_UP)]
    heads = [k for k in fixture
             if not k.startswith(core.BOTTOM_UP) and k not in core.PREPROCESSING_KEYS]
    _reads_back(vovnet.RULES, backbone)
    _reads_back(core._head_rules(first=3, n_lateral=3), heads)
    from mmdet.models.backbones import ResNet
    with torch.device('meta'):
        keys = ResNet(depth=50).state_dict()
    _reads_back(resnet.RULES, [resnet.inverse_key(k) for k in keys
                               if not k.endswith('num_batches_tracked')])
