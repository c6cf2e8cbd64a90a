#!/usr/bin/env bash
# The GPU checks, for a machine with an accelerator that has PyTorch and Lightning but not the
# rest of our dependencies, and no network (e.g. a lent device machine with Python 3.12).
#
#   bash scripts/device_check.sh fetch   # here, with network: the wheels that machine lacks
#                                        # -> .whl/ (pure Python; ignored by git)
#   bash scripts/device_check.sh run     # there, with .whl/ copied along: install them into
#                                        # /tmp/site, then run tests/test_devices.py (every test
#                                        # on cpu and on each device torch sees); the log goes
#                                        # to $OUT/test_devices.log when OUT is set
#
# Exit status: pytest's (0: every case passed). A run that sees no GPU says so and exits 3,
# so a CPU-only result is never taken for a GPU one.
set -euo pipefail
cd "$(dirname "$0")/.."

# what the GPU image lacks (it has torch, lightning, numpy, scipy, h5py, xarray, safetensors,
# rich, matplotlib, pyyaml, pytest): pinned to the versions our own venv runs
WHEELS=(neuraloperator==2.0.0 configmypy==0.2.0 ruamel.yaml==0.19.1 tensorly==0.10.0
        tensorly-torch==0.5.0 zencfg==1.0.0 jsonargparse==4.53.0 docstring-parser==0.18.0
        typeshed-client==2.15.0 h5netcdf==1.8.3 tensorboardX==2.6.5)
PYVER=${PYVER:-3.12}
PY=${PY:-python3}  # the interpreter that has torch there

case "${1:-}" in
fetch)
  grep -qsx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
  mkdir -p .whl
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${WHEELS[@]}"
  ls .whl
  ;;
run)
  [ -d .whl ] || { echo "no .whl/: run '$0 fetch' first and copy .whl along" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda,
      [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
PY
  log=${OUT:-/tmp}/test_devices.log
  status=0
  "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_devices.py 2>&1 | tee "$log" \
    || status=$?
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "no GPU seen: only the cpu cases ran" >&2
    exit 3
  fi
  exit "$status"
  ;;
*)
  sed -n '2,13p' "$0" >&2
  exit 2
  ;;
esac
