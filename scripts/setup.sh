#!/usr/bin/env bash
# Idempotent set-up of the whole stack in .venv (see README "Set-up").
# Order matters: torch first, then mmcv 2.1.0 built from source against it
# (no binary wheels exist), then the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip"
stamp="$VENV/.centermask-setup"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
t0=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi

# One cheap probe (package metadata, no heavy imports) says which steps are still needed.
probe() {
  "$VENV/bin/python" - <<'PY'
import glob, importlib.metadata as md, importlib.util as iu, os
def ver(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
st = ver("setuptools") or "0"
major, minor = (int(x) for x in st.split(".")[:2])
need = []
if not (77, 0) <= (major, minor) < (80, 9):
    need.append("tooling")
if ver("torch") is None:
    need.append("torch")
spec = iu.find_spec("mmcv")
ext = spec and glob.glob(os.path.join(os.path.dirname(spec.origin), "_ext*.so"))
if ver("mmcv") != "2.1.0" or not ext:
    need.append("mmcv")
print(" ".join(need))
PY
}
need=" $(probe) "

# mmcv's setup.py imports pkg_resources (gone in setuptools 81); torch 2.13 wants >= 77.0.3.
# Below 80.9 because mmengine and openmim import (and reload) pkg_resources at run time, and
# from 80.9 on that import prints a UserWarning on every command; before, it is a
# DeprecationWarning, which Python shows only to the code that triggers it.
if [[ $need == *" tooling "* ]]; then
  log "pinning pip tooling"
  $PIP install -q --upgrade pip "setuptools>=77.0.3,<80.9" wheel
fi

if [[ $need == *" torch "* ]]; then
  log "installing torch 2.13.0"
  $PIP install -q torch==2.13.0
fi

if [[ $need == *" mmcv "* ]]; then
  # CUDA ops only where both a GPU-enabled torch and nvcc exist.
  if command -v nvcc >/dev/null && $VENV/bin/python -c 'import torch,sys; sys.exit(not torch.cuda.is_available())'; then
    export FORCE_CUDA=1
    log "building mmcv 2.1.0 with CUDA ops"
  else
    log "building mmcv 2.1.0 with CPU ops (about 9 min on 2 cores; cached afterwards)"
  fi
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} $PIP install -q --no-build-isolation mmcv==2.1.0
fi

# The project itself (pulls mmengine, mmdet, mlflow, optuna, ...). Re-run only when
# pyproject.toml changed since the last successful set-up.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ ! -x "$VENV/bin/orchestrator" ]; then
  log "installing centermask-mm (editable) with dev, notebook, ray and deploy extras"
  $PIP install -q --no-build-isolation -e ".[dev,notebooks,ray,deploy,dashboard]"
  # openmim 0.3.9 depends on opendatalab, which pins setuptools 60 and would break
  # torch's requirement: install it without deps (its runtime deps are in pyproject).
  $PIP install -q --no-deps "openmim==0.3.9"
  touch "$stamp"
fi

# openmim 0.3.9 runs <site-packages>/centermask_mm/.mim/tools/*.py; a PEP 660 editable
# install leaves no package folder there, so link the source package (outside the stamp
# check, so older environments get it too).
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -e "$site/centermask_mm" ] || ln -s "$PWD/centermask_mm" "$site/centermask_mm"

log "done in $(( $(date +%s) - t0 )) s"
