"""Benchmark harness: result schema, stage breakdown, fixed detection count, speed switches.

Timings on a shared CI machine are noise, so nothing here asserts a speed; the tests check
what the numbers mean (stages add up, counts are fixed, optimised outputs equal the
reference) on narrow models at 128 x 128 with one or two runs.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.harness import (
    BenchSettings,
    ModelSpec,
    StageTimer,
    fixed_detections,
    log_to_mlflow,
    measure_latency,
    run_benchmark,
    write_json,
)
from benchmarks.harness.bench import SCHEMA, benchmark_model
from benchmarks.harness.cli import main as cli_main
from benchmarks.harness.cli import register
from benchmarks.harness.memory import PeakMemory
from benchmarks.harness.models import BenchConfigError, build_model, find_classifier
from benchmarks.harness.report import format_report
from benchmarks.harness.runner import compare_predictions, summarize

HERE = Path(__file__).parent
REPO = HERE.parents[1]
TINY_CM = str(HERE / "configs" / "centermask_tiny.py")
TINY_MRCNN = str(REPO / "tests" / "configs" / "mask-rcnn_tiny_toy.py")
SHAPE = (128, 128)

CM_STAGES = {"preprocess", "backbone", "fpn", "dense_head", "dense_nms", "mask_roi_extract",
             "mask_head", "maskiou_head", "paste_back", "other"}
MRCNN_STAGES = {"preprocess", "backbone", "fpn", "rpn_head", "rpn_nms", "box_roi_extract",
                "box_head", "box_nms", "mask_roi_extract", "mask_head", "paste_back", "other"}


@pytest.fixture(scope="module")
def bench_result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run over both tiny models, written to JSON and read back (what consumers see)."""
    torch.manual_seed(0)
    settings = BenchSettings(device="cpu", shape=SHAPE, runs=2, warmup=0, stage_runs=1,
                             train_steps=1, train_batch=1)
    result = run_benchmark([ModelSpec(TINY_CM, "cm"), ModelSpec(TINY_MRCNN, "mrcnn")],
                           settings, argv=["test"], log=lambda _m: None)
    path = write_json(result, tmp_path_factory.mktemp("bench") / "bench.json")
    return json.loads(path.read_text())


def test_result_schema(bench_result: dict) -> None:
    r = bench_result
    assert r["schema"] == SCHEMA
    assert {"created", "command", "hardware", "settings", "models", "ratios"} <= set(r)
    hw = r["hardware"]
    for key in ("cpu_model", "cpu_count", "torch_threads", "gpu_name", "torch", "mmcv",
                "mmdet", "summary"):
        assert key in hw, key
    assert hw["torch_threads"] == torch.get_num_threads() and hw["gpu_name"] is None
    # versions from mmengine's collect_env record, which the result carries (JSON-ready)
    assert hw["torch"] == hw["env"]["PyTorch"] == torch.__version__
    assert hw["mmdet"] == hw["env"]["MMDetection"] and "GCC" in hw["env"]
    assert [e["name"] for e in r["models"]] == ["cm", "mrcnn"]
    for e in r["models"]:
        assert e["error"] is None, e.get("traceback")
        lat = e["latency_ms"]
        assert lat["n"] == 2 and len(lat["runs"]) == 2
        assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
        assert e["params_m"] > 0 and e["shape"] == list(SHAPE)
        assert e["memory"]["peak_rss_mb"] >= e["memory"]["rss_before_mb"] > 0
        assert e["memory"]["peak_cuda_mb"] is None
        tr = e["train"]
        assert tr["images_per_s"] > 0 and tr["batch_size"] == 1 and tr["step_ms"]["n"] == 1
        assert tr["final_loss"] is not None and tr["final_loss"] == tr["final_loss"]  # not NaN
    assert r["ratios"]["cm/cm"] == 1.0 and "mrcnn/cm" in r["ratios"]
    text = format_report(r)
    assert "cm" in text and "paste_back" in text and "img/s" in text


@pytest.mark.parametrize("name,stages", [("cm", CM_STAGES), ("mrcnn", MRCNN_STAGES)])
def test_stage_breakdown_complete_and_adds_up(bench_result: dict, name: str,
                                              stages: set[str]) -> None:
    e = next(m for m in bench_result["models"] if m["name"] == name)
    assert set(e["stages_ms"]) == stages
    assert all(v > 0 for k, v in e["stages_ms"].items() if k != "other")
    total = e["staged_total_ms"]["median"]
    # One staged run: the stages plus 'other' are that run's total, by construction ...
    assert sum(e["stages_ms"].values()) == pytest.approx(total, abs=0.05)
    run = e["stage_runs_ms"][0]
    assert run["total"] == total and sum(v for k, v in run.items() if k != "total") == \
        pytest.approx(total, abs=0.05)
    # ... and almost all of it is inside a named stage.
    assert e["stages_ms"]["other"] < 0.3 * total
    # Compute is attributed to the stages that run convolutions / linear layers.
    assert e["gmacs"] == pytest.approx(sum(e["stage_gmacs"].values()), abs=1e-3)
    assert {"backbone", "fpn", "mask_head"} <= set(e["stage_gmacs"]) <= stages - {"other"}
    groups = e["stage_groups_ms"]
    assert groups["backbone+FPN"] == pytest.approx(
        e["stages_ms"]["backbone"] + e["stages_ms"]["fpn"], abs=0.01)


def test_fixed_detection_count(bench_result: dict) -> None:
    cm, mrcnn = bench_result["models"]
    assert cm["top_k"] == 50 and cm["detections"] == {"min": 50, "max": 50}
    assert cm["fixed_count"]["classifier"] == "bbox_head.conv_cls"
    assert mrcnn["top_k"] == 100 and mrcnn["detections"] == {"min": 100, "max": 100}
    assert mrcnn["fixed_count"]["classifier"] == "roi_head.bbox_head.fc_cls"


@pytest.fixture(scope="module")
def tiny_cm() -> nn.Module:
    torch.manual_seed(0)
    return build_model(TINY_CM)


def test_fixed_detections_restores_weights(tiny_cm: nn.Module) -> None:
    path, kind, layer = find_classifier(tiny_cm)
    assert (path, kind) == ("bbox_head.conv_cls", "sigmoid")
    w, b = layer.weight.clone(), layer.bias.clone()
    with fixed_detections(tiny_cm) as info:
        assert info["top_k"] == 50
        assert torch.all(layer.weight == 0) and layer.bias[0] > 0 > layer.bias[1]
    assert torch.equal(layer.weight, w) and torch.equal(layer.bias, b)


def test_measure_latency_leaves_model_as_found(tiny_cm: nn.Module) -> None:
    tiny_cm.train()
    before = {k: v.clone() for k, v in tiny_cm.state_dict().items()}
    res = measure_latency(tiny_cm, SHAPE, runs=1, warmup=0, stage_runs=0)
    assert tiny_cm.training
    assert all(torch.equal(before[k], v) for k, v in tiny_cm.state_dict().items())
    assert res["staged_total_ms"] is None and res["stages_ms"] == {}
    assert res["detections"]["max"] == 50 and res["hardware"]["summary"]
    assert "forward" not in vars(tiny_cm.backbone)  # no timer left behind
    tiny_cm.eval()


def test_optimised_paths_equal_reference() -> None:
    """Conv-BN fusion and channels-last keep the outputs; bf16 is reported, not hidden."""
    torch.manual_seed(0)
    settings = BenchSettings(shape=SHAPE, runs=1, warmup=0, stage_runs=0,
                             options={"fuse_conv_bn": True, "channels_last": True})
    ref, opt = benchmark_model(ModelSpec(TINY_CM, "cm"), settings, log=lambda _m: None)
    assert ref["error"] is None and opt["error"] is None, opt.get("traceback")
    assert opt["variant"] == "optimised" and opt["name"] == "cm [fuse_conv_bn+channels_last]"
    assert opt["options"] == {"fuse_conv_bn": {"applied": True, "error": None},
                              "channels_last": {"applied": True, "error": None}}
    diff = opt["output_diff"]
    assert diff["same_count"] and diff["labels_equal"]
    assert diff["min_matched_iou"] > 0.999
    assert diff["mask_pixels_differ"] < 1e-3
    assert opt["speedup_vs_reference"] > 0


def test_failing_option_is_reported_not_raised(tiny_cm: nn.Module) -> None:
    from benchmarks.harness.options import apply_options

    calls = []

    def trial() -> None:
        calls.append(1)
        raise RuntimeError("backend says no\nsecond line")

    state = apply_options(tiny_cm, {"channels_last": True}, trial)
    assert state.report == {"channels_last": {"applied": False,
                                              "error": "RuntimeError: backend says no"}}
    assert calls == [1] and state.applied == []
    assert "forward" not in vars(tiny_cm.backbone)  # undone
    assert tiny_cm.backbone.conv1.weight.is_contiguous()
    with pytest.raises(ValueError, match="unknown option"):
        apply_options(tiny_cm, {"turbo": True}, trial)


def test_stage_timer_times_are_exclusive_and_removed() -> None:
    class Sleeper(nn.Module):
        def __init__(self, seconds: float, inner: nn.Module | None = None) -> None:
            super().__init__()
            self.seconds, self.inner = seconds, inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            time.sleep(self.seconds)
            return self.inner(x) if self.inner is not None else x

    model = nn.Module()
    model.backbone = Sleeper(0.1)
    model.neck = Sleeper(0.005, inner=model.backbone)  # calls the backbone inside itself
    with StageTimer(model) as timer:
        assert timer.stages == ["backbone", "fpn"]
        model.neck(torch.zeros(1))
        times = dict(timer.times)
    assert times["backbone"] >= 100.0
    assert times["fpn"] < 60.0  # without exclusive timing it would be >= 105 ms
    assert "forward" not in vars(model.backbone) and "forward" not in vars(model.neck)


def test_mac_counter_counts_conv_deconv_linear_per_stage() -> None:
    from mmcv.ops import DeformConv2dPack, ModulatedDeformConv2dPack

    from benchmarks.harness.stages import MacCounter

    class Neck(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
            self.norm = nn.BatchNorm2d(4)  # not a MAC
            self.fc = nn.Linear(4 * 20 * 20, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.norm(self.up(x)).flatten(1))

    model = nn.Module()
    model.backbone = nn.Conv2d(3, 8, 3, padding=1)
    model.neck = Neck()
    # mmcv's deformable convs (traced as Python ops; counted by the harness's own handle)
    model.bbox_head = nn.Sequential(ModulatedDeformConv2dPack(8, 6, 3, padding=1),
                                    DeformConv2dPack(6, 2, 3, padding=1))
    model.eval()
    with torch.no_grad(), StageTimer(model) as timer, MacCounter(model) as counter:
        model.neck(model.backbone(torch.zeros(1, 3, 10, 10)))
        model.backbone(torch.zeros(1, 3, 10, 10))  # a second call adds up
        model.bbox_head(torch.zeros(1, 8, 10, 10))
        assert timer.stages == ["backbone", "fpn", "dense_head"]
    # conv: out.numel() * in/groups*kh*kw (plus the offset convs of the deformable ones);
    # deconv: in.numel() * out/groups*kh*kw; linear: out.numel() * in_features.
    offsets = 10 * 10 * 27 * 8 * 3 * 3 + 10 * 10 * 18 * 6 * 3 * 3
    assert counter.macs == {"backbone": 2 * 8 * 10 * 10 * 3 * 3 * 3,
                            "fpn": 8 * 10 * 10 * 4 * 2 * 2 + 4 * 20 * 20 * 5,
                            "dense_head": 6 * 10 * 10 * 8 * 9 + 2 * 10 * 10 * 6 * 9 + offsets}
    assert not model.backbone._forward_pre_hooks  # hooks removed


def test_mac_counter_counts_parts_outside_stages_as_other_and_nested_calls_once() -> None:
    from benchmarks.harness.stages import MacCounter

    class Neck(nn.Module):  # runs the backbone inside itself
        def __init__(self, backbone: nn.Module) -> None:
            super().__init__()
            self.backbone, self.lateral = backbone, nn.Conv2d(8, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lateral(self.backbone(x))

    class Protonet(nn.Module):  # a top-level mask_head, as in SAIS / YOLACT: no stage
        def __init__(self) -> None:
            super().__init__()
            self.proto = nn.Conv2d(8, 4, 3, padding=1)

        def forward(self, x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
            return self.proto(x).flatten(2)[0].t() @ coeffs.t()  # (h*w, k) @ (k, N)

    model = nn.Module()
    model.backbone = nn.Conv2d(3, 8, 3, padding=1)
    model.neck = Neck(model.backbone)
    model.mask_head = Protonet()
    model.eval()
    x, coeffs = torch.rand(1, 3, 10, 10), torch.rand(5, 4)
    with torch.no_grad():
        expected = model.mask_head(model.backbone(x), coeffs)
        with MacCounter(model) as counter:
            model.neck(x)
            masks = model.mask_head(model.backbone(x), coeffs)
    torch.testing.assert_close(masks, expected)  # the hooks leave outputs alone
    # the backbone's nested call counts for the backbone only, not for the neck too
    assert counter.macs == {"backbone": 2 * 8 * 10 * 10 * 3 * 3 * 3,
                            "fpn": 4 * 10 * 10 * 8,
                            "other": 4 * 10 * 10 * 8 * 3 * 3 + 10 * 10 * 4 * 5}
    assert not model.mask_head._forward_pre_hooks and not model.mask_head._forward_hooks


def test_peak_memory_sees_an_allocation() -> None:
    with PeakMemory("cpu") as mem:
        block = torch.ones(64 * 1024 * 1024 // 4 * 4)  # 256 MiB of float32
        block += 1
        del block
    assert mem.result["peak_rss_mb"] - mem.result["rss_before_mb"] > 200
    assert mem.result["rss_method"] in ("VmHWM", "sampled")


def test_summarize() -> None:
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (3.0, 1.0, 5.0, 5)
    assert s["p90"] == pytest.approx(4.6)
    assert summarize([7.0])["p90"] == 7.0
    with pytest.raises(ValueError):
        summarize([])


def test_compare_predictions_matches_reordered_boxes() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]])
    masks = torch.zeros(2, 50, 50, dtype=torch.bool)
    masks[0, :10, :10] = True
    masks[1, 20:40, 20:40] = True
    ref = {"bboxes": boxes, "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([0, 1]),
           "masks": masks}
    same = compare_predictions(ref, {k: v.clone() for k, v in ref.items()})
    assert same["identical"] and same["min_matched_iou"] == 1.0
    swapped = {k: v.flip(0) for k, v in ref.items()}
    diff = compare_predictions(ref, swapped)
    assert not diff["identical"] and not diff["labels_equal"]
    assert diff["min_matched_iou"] == 1.0 and diff["mask_pixels_differ"] == 0.0


@pytest.mark.parametrize("text,config,label,shape", [
    ("a/b/model.py", "a/b/model.py", "model", None),
    ("lite=a/model.py@600x912", "a/model.py", "lite", (600, 912)),
    ("mmdet::mask_rcnn/m_1x.py", "mmdet::mask_rcnn/m_1x.py", "m_1x", None),
])
def test_model_spec_parse(text: str, config: str, label: str, shape: tuple | None) -> None:
    spec = ModelSpec.parse(text)
    assert (spec.config, spec.label, spec.shape) == (config, label, shape)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="@HxW"):
        ModelSpec.parse("x.py@600by900")
    with pytest.raises(ValueError, match="runs"):
        BenchSettings(runs=0)
    with pytest.raises(BenchConfigError, match="nope.py"):
        build_model("configs/nope.py")
    with pytest.raises(BenchConfigError, match="no mask_rcnn/nope.py in mmdet"):
        build_model("mmdet::mask_rcnn/nope.py")
    with pytest.raises(ValueError, match="shape"):
        measure_latency(TINY_CM, (16, 16), runs=1)
    # A broken config is recorded in the result; the others are still measured.
    entries = benchmark_model(ModelSpec("configs/nope.py", "nope"), BenchSettings(),
                              log=lambda _m: None)
    assert entries[0]["error"].startswith("BenchConfigError") and "nope.py" in entries[0]["error"]


def test_package_config_names_resolve_once_for_harness_and_planner(tmp_path: Path) -> None:
    """``pkg::path`` lookup is one function; each caller gets its own error type."""
    from benchmarks.harness.config_names import package_config_path
    from benchmarks.harness.models import resolve_config
    from orchestrator.study.configs import ConfigLoadError, resolve_config_path

    name = "mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py"
    path = package_config_path(name)
    assert path.is_file() and path.name == "mask-rcnn_r50_fpn_1x_coco.py"
    assert resolve_config(name) == resolve_config_path(name, tmp_path) == path
    for error, resolve in ((BenchConfigError, resolve_config),
                           (ConfigLoadError, lambda n: resolve_config_path(n, tmp_path))):
        with pytest.raises(error, match=r"config 'mmdet::x/nope.py': no x/nope.py in mmdet"):
            resolve("mmdet::x/nope.py")
        with pytest.raises(error, match=r"package 'nopkg' is not an installed OpenMMLab"):
            resolve("nopkg::a.py")


class _FakeClient:
    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self.tags: dict[str, str] = {}
        self.dicts: dict[str, dict] = {}

    def log_metric(self, run_id: str, key: str, value: float) -> None:
        self.metrics[key] = value

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.tags[key] = value

    def log_dict(self, run_id: str, d: dict, name: str) -> None:
        self.dicts[name] = d


def test_log_to_mlflow(bench_result: dict) -> None:
    client = _FakeClient()
    logged = log_to_mlflow(bench_result, "run1", client)
    cm = bench_result["models"][0]
    assert client.metrics["time_ms"] == cm["latency_ms"]["median"] == logged["time_ms"]
    assert client.tags["cm.time_hardware"] == bench_result["hardware"]["summary"]
    assert client.tags["cm.time_shape"] == "128x128" and client.tags["cm.time_detections"] == "50"
    assert "bench/stage/paste_back_ms" in client.metrics and "benchmark.json" in client.dicts
    with pytest.raises(ValueError, match="latency"):
        log_to_mlflow({"shape": [1, 1]}, "run1", _FakeClient())


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "x.py", "--shape", "64", "96", "--compile"])
    assert args.func.__name__ == "cmd_bench" and args.shape == [64, 96] and args.compile
    from benchmarks.harness.cli import SWITCHES
    from benchmarks.harness.options import OPTION_NAMES

    assert tuple(SWITCHES) == OPTION_NAMES  # one flag per switch, named after it
    args = parser.parse_args(["bench", "x.py", "--fuse-conv-bn", "--channels-last", "--bf16"])
    assert [n for n in SWITCHES if getattr(args, n)] == ["fuse_conv_bn", "channels_last", "bf16"]
    out = tmp_path / "b.json"
    code = cli_main([f"cm={TINY_CM}", "--device", "cpu", "--shape", "128", "128", "--runs", "1",
                     "--warmup", "0", "--stage-runs", "0", "--train-steps", "0", "--quiet",
                     "--out", str(out)])
    assert code == 0
    assert "| cm " in capsys.readouterr().out
    assert json.loads(out.read_text())["models"][0]["detections"]["max"] == 50
    assert cli_main(["x.py@bad"]) == 2


class _Recorder(nn.Module):
    """A stand-in detector whose ``test_step`` records which model ran."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name, self.log = name, log
        self.w = nn.Parameter(torch.zeros(1))

    def test_step(self, data: dict) -> list:
        self.log.append(self.name)
        return []


def test_interleaved_latency_times_the_models_in_turns() -> None:
    from benchmarks.harness.runner import interleaved_latency

    log: list[str] = []
    a, b = _Recorder("a", log), _Recorder("b", log)
    times = interleaved_latency([a, b], [(32, 32), (32, 32)], rounds=3, warmup=2,
                                fixed_count=False)
    assert log == ["a", "a", "b", "b"] + ["a", "b"] * 3  # warm-ups, then A, B, A, B ...
    assert [len(t) for t in times] == [3, 3] and all(v > 0 for t in times for v in t)
    assert a.training and b.training  # modes put back


def test_ratios_are_the_spread_of_per_round_ratios() -> None:
    from benchmarks.harness.bench import ratio, ratio_spread
    from benchmarks.harness.runner import round_ratios

    assert round_ratios([2.0, 4.0, 3.0, 9.0], [1.0, 2.0, 1.0, 3.0]) == {
        "median": 2.5, "min": 2.0, "max": 3.0, "q1": 2.0, "q3": 3.0, "n": 4}
    with pytest.raises(ValueError, match="as many rounds"):
        round_ratios([1.0], [1.0, 2.0])

    def entry(name: str, rounds: list[float] | None) -> dict:
        e = {"name": name, "error": None, "variant": "reference",
             "latency_ms": {"median": 10.0}}
        return {**e, "rounds_ms": rounds} if rounds else e

    ab = ratio_spread([entry("a", [10.0, 20.0, 10.0]), entry("b", [12.0, 30.0, 11.0])])
    assert ab["b/a"]["interleaved"] and ab["b/a"]["median"] == 1.2 and ab["b/a"]["max"] == 1.5
    assert ratio(entry("b", None), entry("a", None)) == {"median": 1.0, "interleaved": False}


def test_paper_ratios_table() -> None:
    spec = importlib.util.spec_from_file_location("paper_ratios",
                                                  REPO / "benchmarks" / "paper_ratios.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["paper_ratios"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)

    def entry(name: str, ms: float) -> dict:
        return {"name": name, "shape": [800, 1216], "error": None, "variant": "reference",
                "latency_ms": {"median": ms, "p90": ms}, "detections": {"max": 50},
                "stage_groups_ms": {"backbone+FPN": ms / 2}}

    result = {"models": [entry("centermask-r50", 120.0), entry("fcos-r50", 100.0),
                         entry("centermask-v2-39", 100.0), entry("mmdet-mask-rcnn-r50", 100.0)],
              "hardware": {"summary": "test CPU"}, "settings": {"warmup": 1, "runs": 2}}
    rows = {r["title"]: r for r in mod.compute_ratios(result)}
    assert rows["CenterMask R-50 / FCOS R-50"]["ratio"] == 1.2
    assert rows["CenterMask R-50 / FCOS R-50"]["met"] is True
    assert rows["CenterMask V2-39 / Mask R-CNN R-50-FPN"]["met"] is False
    lite = rows["CenterMask-Lite V2-19 @600 / CenterMask V2-39 @800"]
    assert lite["ratio"] is None and lite["met"] is None
    md = mod.markdown(result, list(rows.values()), "python benchmarks/paper_ratios.py")
    assert "test CPU" in md and "| CenterMask R-50 / FCOS R-50 | 1.200 | 1.26 |" in md


@pytest.mark.gpu
def test_cuda_latency_and_memory() -> None:
    torch.manual_seed(0)
    res = measure_latency(TINY_CM, SHAPE, runs=2, device="cuda", warmup=2, stage_runs=1)
    assert res["device"].startswith("cuda")
    assert res["detections"] == {"min": 50, "max": 50}
    assert res["memory"]["peak_cuda_mb"] > 0
    assert res["hardware"]["gpu_name"] and "CUDA" in res["hardware"]["summary"]
    assert set(res["stages_ms"]) == CM_STAGES
