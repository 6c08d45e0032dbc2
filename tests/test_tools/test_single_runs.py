"""Single runs the OpenMMLab way: ``mim train`` / ``mim test`` and ``tools/{train,test}.py``.

The end-to-end test trains the CenterMask-Lite toy config for one short epoch on CPU
through ``mim train centermask_mm`` from a folder holding ``data/toy`` (the config's own
relative ``data_root``), evaluates the checkpoint with ``mim test`` (COCO metrics file,
drawn predictions), resumes it in-process with ``tools/train.py``, and runs it through
mmdet's ``DetInferencer`` from Python with torch's ``weights_only`` check on. A slow test
runs the README's "Train a single model" commands exactly as written. The other tests
check the flag handling and the error messages without training.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
TOY_CFG = REPO / "configs" / "centermask" / "toy" / "centermask-lite_v2-19-slim_fpn_toy.py"
MIM = Path(sys.executable).with_name("mim")


def _load_tool(name: str) -> ModuleType:
    # Run as scripts, the tools find their sibling tools/_cli_common.py on sys.path[0];
    # loaded by file path they need the folder on sys.path.
    if str(REPO / "tools") not in sys.path:
        sys.path.insert(0, str(REPO / "tools"))
    path = REPO / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_cm_tools_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = _load_tool("train")
test_tool = _load_tool("test")


def _data_options(root: Path) -> list[str]:
    """``--cfg-options`` that point ``_base_/datasets/toy_instance.py`` at ``root``."""
    ann = f"{root}/annotations/instances_val.json"
    return [f"{loader}.dataset.data_root={root}/"
            for loader in ("train_dataloader", "val_dataloader", "test_dataloader")] + [
        f"val_evaluator.ann_file={ann}", f"test_evaluator.ann_file={ann}"]


def _fast_options(root: Path | None = None) -> list[str]:
    """One epoch of 2 iterations, 128 px, no validation pass; toy data at ``root``, or
    without ``root`` at the config's own ``data/toy/`` relative to the working directory."""
    return (_data_options(root) if root is not None else []) + [
        "train_cfg.max_epochs=1",
        "train_dataloader.batch_size=4",
        # toy_instance.py resizes to 256; the tiny set is 128 px already.
        "train_dataloader.dataset.pipeline.2.scale=(128,128)",
        "test_dataloader.dataset.pipeline.1.scale=(128,128)",
        "val_dataloader=None", "val_cfg=None", "val_evaluator=None",
        # An untrained FCOS scores every location ~0.01: keep a few detections so that
        # CocoMetric has results to score and the drawn images have masks.
        "model.test_cfg.fcos.score_thr=0.0", "model.test_cfg.fcos.max_per_img=5",
        "default_hooks.visualization.score_thr=0.0",
    ]


def _mim_sees_tools() -> bool:
    from mim.utils import get_installed_path

    return (Path(get_installed_path("centermask_mm")) / ".mim" / "tools" / "train.py").is_file()


def _mim_env(tmp: Path) -> dict[str, str]:
    """Environment for ``mim`` subprocesses.

    openmim 0.3.9 looks for ``<dist location>/centermask_mm/.mim``; a PEP 660 editable
    install has its dist-info in site-packages but no package directory there. Unless
    ``scripts/setup.sh`` linked it (what ``test_mim_finds_the_tools`` checks), lay out the
    same link in ``tmp``: the dist-info plus ``centermask_mm -> <repo>/centermask_mm``,
    first on PYTHONPATH.
    """
    env = dict(os.environ)
    if _mim_sees_tools():
        return env
    from importlib.metadata import distribution

    site = tmp / "site"
    site.mkdir()
    dist = distribution("centermask_mm")
    metadata = next(f for f in dist.files or [] if f.name == "METADATA")
    dist_info = Path(dist.locate_file(metadata)).parent
    shutil.copytree(dist_info, site / dist_info.name)
    (site / "centermask_mm").symlink_to(REPO / "centermask_mm", target_is_directory=True)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}"
    return out


@pytest.fixture(scope="module")
def mim_trained(tiny_toy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One ``mim train`` run on the tiny toy set: its work dir, checkpoint and env."""
    if not TOY_CFG.is_file():
        pytest.fail(f"toy config missing: {TOY_CFG}")
    tmp = tmp_path_factory.mktemp("mim")
    env = _mim_env(tmp)
    # The config's own data_root, data/toy/, relative to the working directory (issue 18:
    # CheckedCocoDataset joined it twice; absolute roots hid that).
    shutil.copytree(tiny_toy, tmp / "data" / "toy")
    work = tmp / "train"
    # A config name rather than a path: mim must find it in centermask_mm/.mim/configs.
    _run([str(MIM), "train", "centermask_mm", TOY_CFG.name, "--work-dir", str(work),
          "--cfg-options", *_fast_options()], env, cwd=tmp)
    ckpt = work / "epoch_1.pth"
    assert ckpt.is_file(), sorted(p.name for p in work.iterdir())
    return dict(work=work, ckpt=ckpt, env=env, tmp=tmp, root=tmp / "data" / "toy")


def test_mim_train_then_mim_test(mim_trained: dict) -> None:
    tmp, root = mim_trained["tmp"], mim_trained["root"]
    work = tmp / "test"
    _run([str(MIM), "test", "centermask_mm", str(TOY_CFG), "--checkpoint",
          str(mim_trained["ckpt"]), "--work-dir", str(work), "--show-dir", "vis",
          "--out", str(work / "preds.pkl"), "--cfg-options", *_fast_options()],
         mim_trained["env"], cwd=tmp)

    metrics = json.loads((work / test_tool.METRICS_FILE).read_text())
    for key in ("coco/segm_mAP", "coco/bbox_mAP", "coco/segm_mAP_50", "coco/bbox_mAP_l"):
        assert key in metrics, sorted(metrics)
        # CocoMetric gives fractions; -1 where an area range has no ground truth.
        assert metrics[key] == -1.0 or 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    assert all(math.isfinite(v) for v in metrics.values())

    drawn = sorted(work.glob("*/vis/*.png"))
    assert [p.name for p in drawn] == sorted(p.name for p in (root / "val").glob("*.png"))
    # Ground truth is drawn on the left half, the predictions on the right: with
    # score_thr 0 the right half must differ from the input image.
    img = np.asarray(Image.open(root / "val" / drawn[0].name).convert("RGB"), dtype=np.int16)
    vis = np.asarray(Image.open(drawn[0]).convert("RGB"), dtype=np.int16)
    assert vis.shape == (img.shape[0], 2 * img.shape[1], 3)
    assert np.abs(vis[:, img.shape[1]:] - img).max() > 50
    assert (work / "preds.pkl").stat().st_size > 0


def test_tools_train_resumes_the_mim_checkpoint(mim_trained: dict, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Resuming unpickles the whole checkpoint (message hub, optimizer): with torch's
    # weights_only check forced on, it still loads (centermask_mm's allow-list).
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    work = tmp_path / "resumed"
    shutil.copytree(mim_trained["work"], work)
    opts = _fast_options(mim_trained["root"])
    opts[opts.index("train_cfg.max_epochs=1")] = "train_cfg.max_epochs=2"
    assert train_tool.main([str(TOY_CFG), "--work-dir", str(work), "--resume",
                            "--cfg-options", *opts]) == 0
    import torch

    ckpt = torch.load(work / "epoch_2.pth", map_location="cpu", weights_only=False)
    # Resumed, not restarted: 2 iterations per epoch, 4 in total.
    assert ckpt["meta"]["epoch"] == 2 and ckpt["meta"]["iter"] == 4


def test_det_inferencer_from_python(mim_trained: dict, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """mmdet's Python API on our checkpoint, no opt-out called, weights_only forced on."""
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    from mmdet.apis import DetInferencer
    from mmengine.config import Config

    from centermask_mm.apis import CenterMaskInferencer

    cfg = Config.fromfile(str(TOY_CFG))
    # An untrained model scores ~0.01 everywhere: keep a few detections to look at.
    cfg.model.test_cfg.fcos.score_thr = 0.0
    cfg.model.test_cfg.fcos.max_per_img = 5
    image = str(sorted((mim_trained["root"] / "val").glob("*.png"))[0])

    plain = DetInferencer(model=cfg, weights=str(mim_trained["ckpt"]), device="cpu",
                          show_progress=False)(image)["predictions"][0]
    assert len(plain["scores"]) == 5 and "mask_scores" not in plain  # mmdet's pred2dict

    inferencer = CenterMaskInferencer(model=cfg, weights=str(mim_trained["ckpt"]),
                                      device="cpu", show_progress=False)
    out = inferencer(image, out_dir=str(tmp_path), no_save_pred=False,
                     return_datasamples=False)
    pred = out["predictions"][0]
    assert {"labels", "scores", "mask_scores", "bboxes", "masks"} <= set(pred)
    assert pred["scores"] == pytest.approx(plain["scores"], abs=1e-6)
    assert len(pred["mask_scores"]) == len(pred["scores"]) == len(pred["masks"]) == 5
    saved = json.loads((tmp_path / "preds" / (Path(image).stem + ".json")).read_text())
    assert saved["mask_scores"] == pytest.approx(pred["mask_scores"])


def test_weights_only_allow_list_refuses_other_getattr(tmp_path: Path) -> None:
    """The allow-list admits HistoryBuffer's methods, not getattr on anything else."""
    import pickle

    import torch

    import centermask_mm  # noqa: F401  (registers the allow-list)

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "hook": [].append}, evil)  # pickled as getattr(list, ...)
    with pytest.raises(pickle.UnpicklingError, match="allow_full_checkpoint_load"):
        torch.load(evil, weights_only=True)


def test_mim_checkpoint_loads_in_the_demo(mim_trained: dict, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    # Every weight of the model is in the checkpoint and nothing else (strict load).
    init_default_scope("mmdet")
    cfg = Config.fromfile(str(TOY_CFG))
    load_checkpoint(MODELS.build(cfg.model), str(mim_trained["ckpt"]), strict=True)

    image = sorted((mim_trained["root"] / "val").glob("*.png"))[0]
    demo = _load_tool("demo")
    out = tmp_path / "demo"
    argv = [str(image), str(TOY_CFG), str(mim_trained["ckpt"]), "--out", str(out),
            "--score-thr", "0", "--cfg-options", "model.test_cfg.fcos.score_thr=0.0",
            "model.test_cfg.fcos.max_per_img=5"]
    assert demo.main(argv) == 0
    assert (out / "vis" / image.name).is_file()


def test_demo_says_what_it_drew(mim_trained: dict, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """Per-image instance counts; a warning with the best score when nothing passed."""
    images = sorted((mim_trained["root"] / "val").glob("*.png"))[:2]
    demo = _load_tool("demo")
    keep = ["--cfg-options", "model.test_cfg.fcos.score_thr=0.0",
            "model.test_cfg.fcos.max_per_img=3"]
    for image in images:
        (tmp_path / "in").mkdir(exist_ok=True)
        shutil.copy(image, tmp_path / "in" / image.name)
    args = [str(tmp_path / "in"), str(TOY_CFG), str(mim_trained["ckpt"])]

    assert demo.main([*args, "--out", str(tmp_path / "a"), "--score-thr", "0", *keep]) == 0
    out = capsys.readouterr().out
    for image in images:
        assert f"demo: {image.name}: 3 instance(s) drawn (score >= 0, highest score" in out
    assert "with 6 instance(s) drawn" in out

    # The default threshold hides an untrained model's ~0.01 scores: say so, with the best.
    assert demo.main([*args, "--out", str(tmp_path / "b"), *keep]) == 0
    captured = capsys.readouterr()
    assert f"demo: {images[0].name}: 0 instance(s) drawn (score >= 0.3" in captured.out
    assert "with 0 instance(s) drawn" in captured.out
    assert "warning: no instance scored >= 0.3 (the highest score was 0.0" in captured.err


def test_best_predictions_picture(mim_trained: dict, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """tools/best_predictions.py: the best row's best seed, its checkpoint, one picture."""
    from types import SimpleNamespace as NS

    tool = _load_tool("best_predictions")
    ws = tmp_path / "ws"
    for job in ("a1", "b0", "b1"):
        (ws / "jobs" / job).mkdir(parents=True)
        (ws / "jobs" / job / "job.json").write_text(json.dumps({"config": "config.py"}))

    def cell(values: dict[int, float], prefix: str) -> NS:
        return NS(mean=sum(values.values()) / len(values), values=values,
                  runs=[NS(seed=s, job_hash=f"{prefix}{s}", run_id=f"r{s}") for s in values])

    table = NS(study="s", columns=[NS(name="segm_mAP")], rows=[
        NS(name="A", cells={"segm_mAP": cell({1: 11.0}, "a")}),
        NS(name="B", cells={"segm_mAP": cell({0: 12.0, 1: 13.0}, "b")}),
    ])
    assert tool.best_job(table, ws) == ("B", 12.5, 1, ws / "jobs" / "b1")
    empty = NS(study="s", columns=table.columns,
               rows=[NS(name="A", cells={"segm_mAP": NS(mean=None)})])
    with pytest.raises(SystemExit, match="no finished run"):
        tool.best_job(empty, ws)

    # The job folder as the orchestrator leaves it: job.json, the config, checkpoints.
    work = mim_trained["work"]
    config, ckpt = tool.job_checkpoint(_as_job(work))
    assert ckpt.name == "epoch_1.pth"
    monkeypatch.chdir(mim_trained["tmp"])  # the config's data_root, data/toy/, is relative
    target = tmp_path / "pic.png"
    images, drawn = tool.draw_predictions(config, ckpt, 2, 0.0, "cpu", "title", target)
    assert len(images) == 2 and drawn > 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _as_job(work: Path) -> Path:
    """``work`` (a ``mim train`` work dir) with the job.json the orchestrator writes."""
    (work / "job.json").write_text(json.dumps(
        {"config": str(next(work.glob("*.py")))}))
    return work


def test_mim_finds_the_tools() -> None:
    """The installed package exposes .mim/{tools,configs} where openmim looks."""
    from mim.utils import get_installed_path

    root = Path(get_installed_path("centermask_mm"))
    assert (root / ".mim" / "tools" / "train.py").is_file(), (
        f"openmim resolves centermask_mm to {root}, which has no .mim/tools/train.py. With "
        "a PEP 660 editable install (pip >= 21.3) link the package into site-packages, as "
        "scripts/setup.sh does: ln -s \"$PWD/centermask_mm\" \"$(python -c 'import sysconfig; "
        "print(sysconfig.get_paths()[\"purelib\"])')/centermask_mm\"")
    assert (root / ".mim" / "configs" / "centermask" / "toy" / TOY_CFG.name).is_file()


def test_config_names_are_unique() -> None:
    # `mim train centermask_mm NAME.py` looks a bare name up anywhere under
    # centermask_mm/.mim/configs and refuses a name found twice.
    seen: dict[str, list[str]] = {}
    for path in sorted((REPO / "configs").rglob("*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}


# --- flags and errors, no training ------------------------------------------------------

def test_train_help_has_no_gpus_flag(capsys: pytest.CaptureFixture[str]) -> None:
    # `mim train` appends --gpus/--device when the script's -h mentions --gpus; mmdet 3's
    # flags do not have it and neither do ours.
    with pytest.raises(SystemExit) as exc:
        train_tool.parse_args(["-h"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--gpus" not in out and "--cfg-options" in out and "--resume" in out


def test_train_flags_reach_the_config(tmp_path: Path) -> None:
    ckpt = tmp_path / "epoch_3.pth"
    ckpt.write_bytes(b"")
    args = train_tool.parse_args([
        str(TOY_CFG), "--work-dir", str(tmp_path / "w"), "--amp", "--auto-scale-lr",
        "--resume", str(ckpt), "--cfg-options", "work_dir=ignored", "train_cfg.max_epochs=3",
        "optim_wrapper.optimizer.lr=0.5"])
    cfg = train_tool.setup_cfg(args)
    assert cfg.work_dir == str(tmp_path / "w")  # --work-dir beats --cfg-options
    assert cfg.train_cfg.max_epochs == 3 and cfg.optim_wrapper.optimizer.lr == 0.5
    assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.optim_wrapper.loss_scale == "dynamic"
    assert cfg.auto_scale_lr.enable is True
    assert cfg.resume is True and cfg.load_from == str(ckpt)
    assert cfg.launcher == "none"

    auto = train_tool.setup_cfg(train_tool.parse_args([str(TOY_CFG), "--resume"]))
    assert auto.resume is True and auto.load_from is None
    assert auto.work_dir == os.path.join("./work_dirs", TOY_CFG.stem)


def test_train_auto_scale_lr_needs_the_config_key() -> None:
    args = train_tool.parse_args([str(TOY_CFG), "--auto-scale-lr", "--cfg-options",
                                  "auto_scale_lr=None"])
    with pytest.raises(KeyError, match="auto_scale_lr.base_batch_size"):
        train_tool.setup_cfg(args)


@pytest.mark.parametrize("argv, message", [
    (["missing.py"], "config file not found: missing.py"),
    ([str(TOY_CFG), "--resume", "nowhere.pth"], "--resume checkpoint not found"),
])
def test_train_bad_paths_are_usage_errors(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        train_tool.parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--out", "preds.json"], "--out must be a .pkl or .pickle file"),
    ([], "checkpoint not found: nowhere.pth"),
])
def test_test_bad_arguments_are_usage_errors(extra: list[str], message: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = "nowhere.pth"
    if extra:
        ckpt = str(tmp_path / "model.pth")
        Path(ckpt).write_bytes(b"")
    with pytest.raises(SystemExit) as exc:
        test_tool.parse_args([str(TOY_CFG), ckpt, *extra])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_test_show_dir_turns_on_drawing(tmp_path: Path) -> None:
    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(b"")
    cfg = test_tool.setup_cfg(test_tool.parse_args(
        [str(TOY_CFG), str(ckpt), "--show-dir", "vis", "--work-dir", str(tmp_path)]))
    vis = cfg.default_hooks.visualization
    assert vis.draw is True and vis.test_out_dir == "vis" and not vis.get("show", False)
    assert cfg.load_from == str(ckpt) and cfg.work_dir == str(tmp_path)

    no_hook = test_tool.parse_args([str(TOY_CFG), str(ckpt), "--show-dir", "vis",
                                    "--cfg-options", "default_hooks.visualization=None"])
    with pytest.raises(KeyError, match="default_hooks.visualization"):
        test_tool.setup_cfg(no_hook)


@pytest.mark.parametrize("script, fixed", [
    ("dist_train.sh", ["CFG", "2"]),
    ("dist_test.sh", ["CFG", "CKPT", "2"]),
])
def test_dist_scripts_launch_torchrun(script: str, fixed: list[str], tmp_path: Path) -> None:
    # A stand-in interpreter records the command line torchrun would get.
    fake = tmp_path / "python"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = dict(os.environ, PYTHON=str(fake), PORT="29999")
    out = subprocess.run(["bash", str(REPO / "tools" / script), *fixed, "--work-dir", "w"],
                         env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    tool = "train.py" if "train" in script else "test.py"
    i = next(k for k, a in enumerate(out) if a.endswith(f"tools/{tool}"))
    assert out[:2] == ["-m", "torch.distributed.run"]
    assert {"--nproc_per_node=2", "--master_port=29999", "--nnodes=1"} <= set(out[2:i])
    assert out[i + 1:] == [*fixed[:-1], "--launcher", "pytorch", "--work-dir", "w", ""]

    usage = subprocess.run(["bash", str(REPO / "tools" / script), "CFG"], env=env,
                           capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr


# --- the README's commands, exactly as written ----------------------------------------

def _readme_single_run_block() -> str:
    """The first ```bash block of README.md's "## Train a single model" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Train a single model\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def test_readme_single_run_block_is_the_toy_one() -> None:
    block = _readme_single_run_block()
    assert "mim train centermask_mm centermask-lite_v2-19-slim_fpn_toy.py" in block
    assert "mim test" in block and "coco" not in block.lower()


@pytest.mark.slow  # ~1.5 min on 2 quiet cores: 50 training iterations and 50 test images
def test_readme_single_run_commands_as_written(tmp_path: Path) -> None:
    """README "Train a single model": generate the toy set, ``mim train``, ``mim test``.

    Run verbatim with bash in a fresh folder that has only ``.venv`` (a link to this
    interpreter's environment), as a new user would from a fresh clone: the config's own
    relative ``data_root``, a config given by name, no overrides added by the test.
    """
    block = _readme_single_run_block()
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    env = _mim_env(tmp_path)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"README block failed ({proc.returncode}):\n{out[-4000:]}"
    work = tmp_path / "work_dirs" / "toy"
    assert sorted(p.name for p in work.glob("epoch_*.pth")) == ["epoch_1.pth"]
    metrics = json.loads((work / "test" / test_tool.METRICS_FILE).read_text())
    assert "coco/segm_mAP" in metrics and "coco/bbox_mAP" in metrics, metrics
    drawn = list((work / "test").glob("*/vis/*.png"))
    assert len(drawn) == 50, len(drawn)
    assert "pkg_resources" not in out


def test_best_predictions_main_wiring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``make run``'s last step: main() finds the study's table through analysis's public
    API, picks the best job and names the picture and the next commands (the drawing and
    the MLflow store are stood in for; test_best_predictions_picture draws for real)."""
    from types import SimpleNamespace as NS

    import analysis.report
    import analysis.runs

    tool = _load_tool("best_predictions")
    ws = tmp_path / "ws"
    (ws / "jobs" / "b0").mkdir(parents=True)
    (ws / "jobs" / "b0" / "job.json").write_text(json.dumps({"config": "config.py"}))
    seen: dict[str, object] = {}

    def study_table(study, *, tracking_uri=None, profile=None, **_):
        seen.update(study=study, uri=tracking_uri, profile=profile)
        runs = [NS(seed=0, job_hash="b0", run_id="r0")]
        return NS(study="smoke", columns=[NS(name="segm_mAP")], rows=[
            NS(name="B", cells={"segm_mAP": NS(mean=14.5, values={0: 14.5}, runs=runs)})]), None

    monkeypatch.setattr(analysis.report, "study_table", study_table)
    monkeypatch.setattr(analysis.runs, "check_store", lambda uri: uri)
    monkeypatch.setattr(tool, "job_checkpoint", lambda folder: (folder / "config.py",
                                                                folder / "epoch_1.pth"))
    monkeypatch.setattr(tool, "draw_predictions",
                        lambda *a, **k: ([tmp_path / "val" / "0.png"], 3))
    assert tool.main(["studies/smoke.yaml", "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    assert seen["study"] == "studies/smoke.yaml"
    assert f"{ws / 'figures' / 'smoke-predictions.png'}" in out and "3 instance(s)" in out
    assert f"orchestrator table studies/smoke.yaml --workspace {ws}" in out
