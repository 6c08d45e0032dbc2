"""VoVNet V1/V2 backbone family (Lee et al., CenterMask, CVPR 2020, §2.5).

VoVNet stacks One-Shot Aggregation (OSA) modules: a chain of 3x3 conv units whose
outputs are all concatenated once, together with the module input, and fused by a 1x1
conv. VoVNetV2 adds (1) an identity connection on every OSA module but the first of a
stage and (2) effective Squeeze-Excitation (eSE): one channel-preserving FC with a
hard-sigmoid gate. Both are switches here, so V1, V1 + residual, V1 + SE and V2 (the
rows of the paper's Table 4) are plain config values.

Shape shorthand:
    N: batch size; H, W: input height and width.
    Stem output: (N, C_stem, ceil(H / 4), ceil(W / 4)).
    Stage ``i`` (``out_indices`` entry ``i`` = C(i + 2)): stride ``2 ** (i + 2)``, with
    ceil-mode pooling, so odd sizes round up.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import SELayer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

ATTENTION_TYPES = (None, 'se', 'ese')
SE_REDUCTION = 4  # paper Table 4: the SE rows add 2 * sum(C^2) / 4 parameters

#: Columns of :data:`ARCH_TABLE`. ``stem_channels``: the three stem convs;
#: ``stage_mid_channels``: width of the 3x3 layers of stage2..stage5;
#: ``stage_out_channels``: their width after the 1x1 aggregation; ``layers_per_block``:
#: 3x3 layers per OSA module; ``blocks_per_stage``: OSA modules per stage.
ARCH_FIELDS = ('stem_channels', 'stage_mid_channels', 'stage_out_channels',
               'layers_per_block', 'blocks_per_stage', 'depthwise')
# The channel sets the archs share: the stem (the depthwise archs end it at 64), and the
# per-stage widths of the full and the slim variants.
STEM, STEM_DW = (64, 64, 128), (64, 64, 64)
MID, OUT = (128, 160, 192, 224), (256, 512, 768, 1024)
SLIM_MID, SLIM_OUT = (64, 80, 96, 112), (112, 256, 384, 512)
#: The VoVNet architectures (spec §1.1), one row per arch in :data:`ARCH_FIELDS` order
#: (L: ``layers_per_block``).
ARCH_TABLE: dict[str, tuple] = {
    #                stem     mid       out       L  blocks/stage  depthwise
    'V-19-slim-dw': (STEM_DW, SLIM_MID, SLIM_OUT, 3, (1, 1, 1, 1), True),
    'V-19-dw':      (STEM_DW, MID,      OUT,      3, (1, 1, 1, 1), True),
    'V-19-slim':    (STEM,    SLIM_MID, SLIM_OUT, 3, (1, 1, 1, 1), False),
    'V-19':         (STEM,    MID,      OUT,      3, (1, 1, 1, 1), False),
    'V-39':         (STEM,    MID,      OUT,      5, (1, 1, 2, 2), False),
    'V-57':         (STEM,    MID,      OUT,      5, (1, 1, 4, 3), False),
    'V-99':         (STEM,    MID,      OUT,      5, (1, 3, 9, 3), False),
}


class EffectiveSELayer(BaseModule):
    """Effective Squeeze-Excitation (eSE, paper Eqs. 6-7).

    Global average pooling, one 1x1 conv C -> C with bias (no channel reduction), a
    hard-sigmoid gate ``clamp((x + 3) / 6, 0, 1)`` and a channel-wise rescale.
    mmdet's ``ChannelAttention`` has the same structure, but its forward enters the
    deprecated ``torch.cuda.amp.autocast`` (a FutureWarning on every call with recent
    torch), hence this small module; the parameter name ``fc`` is the same.

    Args:
        channels (int): Input and output channels C.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Shapes:
        x: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, channels: int, init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Conv2d(channels, channels, kernel_size=1, bias=True)
        # The published implementations gate with ReLU6(x + 3) / 6, which is exactly
        # nn.Hardsigmoid, not the logistic sigmoid that Eq. 6 writes as sigma.
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        """Rescale the channels of ``x`` (N, C, H, W) by the eSE attention."""
        attn = self.gate(self.fc(x.mean(dim=(2, 3), keepdim=True)))
        return x * attn


def build_osa_attention(attention: str | None, channels: int) -> nn.Module | None:
    """Build the channel attention that follows an OSA module's 1x1 aggregation.

    Args:
        attention (str, optional): ``None``, ``'se'`` (the paper's Eq. 5: two FCs with
            reduction 4, ReLU, logistic sigmoid; mmdet's ``SELayer``) or ``'ese'``.
        channels (int): Channels of the aggregated feature.

    Returns:
        nn.Module or None: The attention module, None when ``attention`` is None.
    """
    if attention is None:
        return None
    if attention == 'se':
        return SELayer(
            channels,
            ratio=SE_REDUCTION,
            act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')))
    if attention == 'ese':
        return EffectiveSELayer(channels)
    raise ValueError(f'attention must be one of {ATTENTION_TYPES}, got {attention!r}')


class OSAModule(BaseModule):
    """One-Shot Aggregation module with optional identity and channel attention.

    ``x -> [reduction] -> L conv units (each kept) -> concat([x, y_1 .. y_L]) -> 1x1
    aggregation -> [attention] -> [+ x]``. The concatenation always uses the unreduced
    input ``x``; the 1x1 reduction exists only in depthwise OSA modules whose input
    width differs from the layer width.

    Args:
        in_channels (int): Input channels C_in.
        mid_channels (int): Width C_mid of every 3x3 layer.
        out_channels (int): Output channels C_out of the 1x1 aggregation.
        num_layers (int): Number L of 3x3 layers.
        identity (bool): Add the input to the output. Requires C_in == C_out.
            Defaults to False.
        attention (str, optional): ``None``, ``'se'`` or ``'ese'``. Defaults to None.
        depthwise (bool): Use depthwise-separable 3x3 layers (3x3 depthwise conv, then
            1x1 pointwise conv, norm and ReLU only after the pointwise conv).
            Defaults to False.
        conv_cfg (dict, optional): Conv config of the 3x3 layers, e.g.
            ``dict(type='DCNv2', deform_groups=1)``. Defaults to None (nn.Conv2d).
        norm_cfg (dict, optional): Norm config. Defaults to None, meaning
            ``dict(type='BN')``.
        with_cp (bool): Use gradient checkpointing in training. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Shapes:
        x: (N, C_in, H, W) -> (N, C_out, H, W).
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 num_layers: int,
                 identity: bool = False,
                 attention: str | None = None,
                 depthwise: bool = False,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 with_cp: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        if identity and in_channels != out_channels:
            raise ValueError(
                f'OSA identity needs in_channels == out_channels, got {in_channels} '
                f'and {out_channels}')
        if depthwise and conv_cfg is not None:
            raise ValueError('depthwise OSA layers cannot use a custom conv_cfg (e.g. DCN)')
        self.identity = identity
        self.with_cp = with_cp

        self.reduction = None
        layer_in = in_channels
        if depthwise and in_channels != mid_channels:
            self.reduction = ConvModule(in_channels, mid_channels, 1, norm_cfg=norm_cfg)
            layer_in = mid_channels

        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            if depthwise:
                layer = DepthwiseSeparableConvModule(
                    layer_in, mid_channels, 3, padding=1, bias=False,
                    norm_cfg=norm_cfg, dw_norm_cfg=None, dw_act_cfg=None)
            else:
                layer = ConvModule(
                    layer_in, mid_channels, 3, padding=1,
                    conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            self.layers.append(layer)
            layer_in = mid_channels

        self.concat = ConvModule(
            in_channels + num_layers * mid_channels, out_channels, 1, norm_cfg=norm_cfg)
        self.attn = build_osa_attention(attention, out_channels)

    def _inner_forward(self, x: Tensor) -> Tensor:
        out = x if self.reduction is None else self.reduction(x)
        feats = [x]
        for layer in self.layers:
            out = layer(out)
            feats.append(out)
        out = self.concat(torch.cat(feats, dim=1))
        if self.attn is not None:
            out = self.attn(out)
        if self.identity:
            # Plain add with no activation after it, as in the released VoVNetV2.
            out = out + x
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Apply the module to ``x`` (N, C_in, H, W); returns (N, C_out, H, W)."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class VoVNet(BaseModule):
    """VoVNet backbone: V1 (Lee et al., 2019) and V2 (CenterMask, CVPR 2020).

    V1 is ``residual=False, attention=None``; V2 is ``residual=True,
    attention='ese'``. As in centermask2, eSE follows every OSA module (timm puts it
    only on the last module of a stage, which is a different, smaller network for
    V-39/57/99). The identity is added on modules 2..n of a stage only, since the
    first one changes the width.

    Args:
        arch (str): Key of :attr:`arch_settings`: ``'V-19-slim-dw'``, ``'V-19-dw'``,
            ``'V-19-slim'``, ``'V-19'``, ``'V-39'``, ``'V-57'`` or ``'V-99'``.
            Defaults to ``'V-39'``.
        residual (bool): Identity connection on OSA modules after the first of each
            stage. Defaults to True.
        attention (str, optional): ``None``, ``'se'`` (two FCs, reduction 4) or
            ``'ese'``, applied after every OSA module. Defaults to ``'ese'``.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages to return; 0..3 are stage2..stage5
            (C2..C5, strides 4, 8, 16, 32). CenterMask uses (1, 2, 3).
            Defaults to (0, 1, 2, 3).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k >= 1 the stem and the
            first k stages (mmdet ResNet convention). Frozen parts have
            ``requires_grad=False`` and stay in eval mode. Defaults to -1.
        conv_cfg (dict, optional): Conv config of the plain convs. Defaults to None.
        norm_cfg (dict, optional): Norm config. The default, BN with
            ``requires_grad=False`` together with ``norm_eval=True``, emulates
            detectron2's FrozenBN. Defaults to None, meaning
            ``dict(type='BN', requires_grad=False)``.
        norm_eval (bool): Keep BatchNorm layers in eval mode (frozen running
            statistics) during ``train()``. Defaults to True.
        dcn (dict, optional): Deformable conv config for the stages selected by
            ``stage_with_dcn``. Defaults to None, meaning
            ``dict(type='DCNv2', deform_groups=1)`` (mmcv
            ``ModulatedDeformConv2dPack``) when any stage uses DCN.
        stage_with_dcn (Sequence[bool]): Per stage (stage2..stage5), replace every
            3x3 OSA layer by a modulated deformable conv. centermask2's DCN configs use
            (False, True, True, True). Not available for depthwise archs.
            Defaults to (False, False, False, False).
        with_cp (bool): Gradient checkpointing per OSA module. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint='path/to/converted.pth')`` for weights
            produced by ``centermask_mm.converters.centermask2``. Defaults to None
            (Kaiming-normal convs from ``ConvModule``, unit norms).

    Forward:
        x: (N, in_channels, H, W) -> tuple of ``len(out_indices)`` tensors, stage i of
        shape (N, stage_out_channels[i], ceil(H / 2 ** (i + 2)), ceil(W / 2 ** (i + 2))).
    """

    #: Architecture settings, one dict of :data:`ARCH_FIELDS` per row of
    #: :data:`ARCH_TABLE` (spec §1.1).
    arch_settings: dict[str, dict] = {
        arch: dict(zip(ARCH_FIELDS, row, strict=True)) for arch, row in ARCH_TABLE.items()}
    num_stages = 4
    #: Output stride of stage2..stage5.
    stage_strides = (4, 8, 16, 32)

    def __init__(self,
                 arch: str = 'V-39',
                 residual: bool = True,
                 attention: str | None = 'ese',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 norm_eval: bool = True,
                 dcn: OptConfigType = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 with_cp: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = dict(type='BN', requires_grad=False) if norm_cfg is None else norm_cfg
        if arch not in self.arch_settings:
            raise KeyError(
                f'VoVNet: unknown arch {arch!r}; expected one of '
                f'{sorted(self.arch_settings)}')
        if attention not in ATTENTION_TYPES:
            raise ValueError(
                f'VoVNet: attention must be one of {ATTENTION_TYPES}, got {attention!r}')
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(self.num_stages) for i in out_indices):
            raise ValueError(
                f'VoVNet: out_indices must be a non-empty subset of 0..3, got {out_indices}')
        if frozen_stages not in range(-1, self.num_stages + 1):
            raise ValueError(f'VoVNet: frozen_stages must be in -1..4, got {frozen_stages}')
        stage_with_dcn = tuple(bool(s) for s in stage_with_dcn)
        if len(stage_with_dcn) != self.num_stages:
            raise ValueError(
                f'VoVNet: stage_with_dcn needs {self.num_stages} entries, got {stage_with_dcn}')
        setting = self.arch_settings[arch]
        depthwise = setting['depthwise']
        if any(stage_with_dcn):
            if depthwise:
                raise ValueError(f'VoVNet: {arch} is depthwise and cannot use DCN')
            dcn = dict(type='DCNv2', deform_groups=1) if dcn is None else dcn
            _require_mmcv_ops()

        self.arch = arch
        self.residual = residual
        self.attention = attention
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.stage_with_dcn = stage_with_dcn
        self.stage_out_channels: tuple[int, ...] = tuple(setting['stage_out_channels'])
        #: Channels and strides of the returned feature maps, in output order.
        self.out_channels = tuple(self.stage_out_channels[i] for i in out_indices)
        self.out_strides = tuple(self.stage_strides[i] for i in out_indices)

        self.stem = self._make_stem(
            in_channels, setting['stem_channels'], depthwise, conv_cfg, norm_cfg)

        self.stage_names: list[str] = []
        stage_in = setting['stem_channels'][-1]
        for i in range(self.num_stages):
            stage = nn.Sequential()
            if i > 0:
                # ceil_mode keeps odd sizes (e.g. 25 -> 13), as in the reference code.
                stage.add_module('pool', nn.MaxPool2d(3, stride=2, ceil_mode=True))
            out_ch = setting['stage_out_channels'][i]
            for j in range(setting['blocks_per_stage'][i]):
                stage.add_module(f'osa{j + 1}', OSAModule(
                    in_channels=stage_in if j == 0 else out_ch,
                    mid_channels=setting['stage_mid_channels'][i],
                    out_channels=out_ch,
                    num_layers=setting['layers_per_block'],
                    identity=residual and j > 0,
                    attention=attention,
                    depthwise=depthwise,
                    conv_cfg=dcn if stage_with_dcn[i] else conv_cfg,
                    norm_cfg=norm_cfg,
                    with_cp=with_cp))
            name = f'stage{i + 2}'
            self.add_module(name, stage)
            self.stage_names.append(name)
            stage_in = out_ch

        self._freeze_stages()

    @staticmethod
    def _make_stem(in_channels: int, stem_channels: Sequence[int], depthwise: bool,
                   conv_cfg: OptConfigType, norm_cfg: ConfigType) -> nn.Sequential:
        """Three 3x3 units with strides 2, 1, 2; units 2-3 depthwise-separable if dw."""
        c1, c2, c3 = stem_channels
        units: list[nn.Module] = [ConvModule(
            in_channels, c1, 3, stride=2, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg)]
        for cin, cout, stride in ((c1, c2, 1), (c2, c3, 2)):
            if depthwise:
                units.append(DepthwiseSeparableConvModule(
                    cin, cout, 3, stride=stride, padding=1, bias=False,
                    norm_cfg=norm_cfg, dw_norm_cfg=None, dw_act_cfg=None))
            else:
                units.append(ConvModule(
                    cin, cout, 3, stride=stride, padding=1,
                    conv_cfg=conv_cfg, norm_cfg=norm_cfg))
        return nn.Sequential(*units)

    def _freeze_stages(self) -> None:
        frozen: list[nn.Module] = []
        if self.frozen_stages >= 0:
            frozen.append(self.stem)
        frozen += [getattr(self, self.stage_names[i]) for i in range(self.frozen_stages)]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Return the stage outputs selected by ``out_indices``.

        Args:
            x (Tensor): Images, (N, in_channels, H, W). H and W divisible by 32 give
                exact strides; other sizes round up.

        Returns:
            tuple[Tensor]: One (N, C_i, H_i, W_i) map per entry of ``out_indices``.
        """
        x = self.stem(x)
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> VoVNet:
        """Set train mode, keeping frozen stages and (if ``norm_eval``) BN in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def _require_mmcv_ops() -> None:
    """Fail early, naming the cause, when mmcv was built without its compiled ops."""
    try:
        from mmcv.ops import ModulatedDeformConv2dPack  # noqa: F401  (registers DCNv2)
    except (ImportError, OSError) as err:
        raise ImportError(
            'VoVNet: stage_with_dcn needs mmcv built with ops (mmcv.ops.'
            f'ModulatedDeformConv2dPack), which failed to import: {err}') from err
