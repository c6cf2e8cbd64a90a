#!/usr/bin/env bash
# The GPU checks, for a machine with an accelerator that has PyTorch and Lightning but not the
# rest of our dependencies, and no network (e.g. a lent device machine with Python 3.12).
#
#   bash scripts/device_check.sh fetch   # here, with network: the wheels that machine lacks
#                                        # -> .whl/ (ignored by git; 23 MB, MPICH the most)
#   bash scripts/device_check.sh run     # there, with .whl/ copied along: install them under
#                                        # /tmp/pfx, then run tests/test_devices.py (every test
#                                        # on cpu and on each device torch sees)
#   bash scripts/device_check.sh full    # there: `run`, then the commands on the GPU (generate,
#                                        # fit in bf16-mixed, test, export, predict on cuda and
#                                        # cpu compared, an online run), then the streaming
#                                        # benchmark (5.7 a, b) and the training-overhead one
#                                        # (4.8, GPU hidden) while BUDGET s (default 450) last
#
# Logs go to $OUT when it is set (else a new folder /tmp/device_check_work.*/logs). Exit status of `run`: pytest's
# (0: every case passed); `full` always runs to the end and prints each step's status. A run
# that sees no GPU says so and exits 3, so a CPU-only result is never taken for a GPU one.
set -uo pipefail
cd "$(dirname "$0")/.."

# what the GPU image lacks (it has torch, lightning, numpy, scipy, h5py, xarray, safetensors,
# rich, matplotlib, pyyaml, pytest): pinned to the versions our own venv runs. mpi4py and MPICH
# are ours too: the image's mpi4py may not find an MPI, and `online` needs MPICH's mpiexec.
WHEELS=(neuraloperator==2.0.0 configmypy==0.2.0 ruamel.yaml==0.19.1 tensorly==0.10.0
        tensorly-torch==0.5.0 zencfg==1.0.0 jsonargparse==4.53.0 docstring-parser==0.18.0
        typeshed-client==2.15.0 h5netcdf==1.8.3 tensorboardX==2.6.5 mpi4py==4.1.2 mpich==5.0.2)
PYVER=${PYVER:-3.12}
PY=${PY:-python3}  # the interpreter that has torch there
BUDGET=${BUDGET:-450}

install() {
  [ -d .whl ] || { echo "no .whl/: run '$0 fetch' first and copy .whl along" >&2; exit 2; }
  # fresh private folders: a fixed name in /tmp could be made first by another user of the
  # machine, and whatever they left there would run (PYTHONPATH, PATH, LD_LIBRARY_PATH)
  PFX=$(mktemp -d /tmp/device_check_pfx.XXXXXX)
  WORK=$(mktemp -d /tmp/device_check_work.XXXXXX)
  LOG=${OUT:-$WORK/logs}
  mkdir -p "$LOG"
  # --prefix, not --target: --target drops MPICH's lib/ (libmpi.so), which mpi4py then
  # cannot find; --ignore-installed, or pip skips a version the interpreter already has
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --ignore-installed \
    --prefix "$PFX" .whl/*.whl || exit 2
  local site
  site=$(echo "$PFX"/lib/python3*/site-packages)
  export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}"
  export LD_LIBRARY_PATH="$PFX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PATH="$PFX/bin:$PATH"
  export PYTHONUNBUFFERED=1
  "$PY" - <<'PY'
import torch, lightning, neuralop, mpi4py.MPI as MPI
print("torch", torch.__version__, "cuda", torch.version.cuda, "lightning", lightning.__version__,
      "neuralop", neuralop.__version__, MPI.Get_library_version().splitlines()[0],
      [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
PY
}

tests() {
  local status=0
  "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_devices.py tests/models/test_precision.py \
    2>&1 | tee "$LOG/test_devices.log" || status=$?
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "no GPU seen: only the cpu cases ran" >&2
    exit 3
  fi
  return "$status"
}

T0=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
step() { echo "== $(date +%T) [+$(( $(date +%s) - T0 )) s] $*"; }
status() { echo "-- $1: exit $2"; }

commands_on_gpu() {
  local w=$WORK/run pds=("$PY" -m pdesurrogate) run rc
  rm -rf "$w"; mkdir -p "$w"
  step "generate 64 Burgers trajectories"
  timeout 60 "${pds[@]}" generate --config configs/data/burgers1d.yaml --samples 64 --seed 1 \
    --t_end 0.5 --n_times 11 --solver.init_args.n_points 128 --out "$w/b.nc" --workers 4 2>&1 \
    | tail -1; status generate "$?"
  step "fit (accelerator auto: the GPU), bf16-mixed, 20 epochs"
  timeout 150 "${pds[@]}" fit --config configs/fit/fno_burgers.yaml \
    --data.init_args.path "$w/b.nc" --trainer.max_epochs 20 --trainer.precision bf16-mixed \
    --trainer.default_root_dir "$w/fit" --trainer.enable_progress_bar false \
    >"$LOG/fit.log" 2>&1; rc=$?
  grep -E "GPU available|Precision|Error|error:" "$LOG/fit.log"; status fit "$rc"
  run=$(dirname "$(dirname "$(ls "$w"/fit/csv/version_*/checkpoints/last.ckpt | head -1)")")
  step "test, export, predict on cuda and on cpu ($run)"
  timeout 60 "${pds[@]}" test --config "$run/config.yaml" --ckpt_path "$run/checkpoints/last.ckpt" \
    --trainer.enable_progress_bar false 2>&1 | grep -E "test/rel_l2 |GPU available|rror"
  timeout 40 "${pds[@]}" export "$run/checkpoints/last.ckpt" "$w/model" 2>&1 | tail -1
  for dev in cuda cpu; do
    timeout 60 "${pds[@]}" predict --model "$w/model" --input "$w/b.nc" --out "$w/p_$dev.nc" \
      --device "$dev" 2>&1 | grep -E "relative L2 vs truth|rror"; status "predict $dev" "$?"
  done
  "$PY" - "$w" <<'PY'
import sys
import numpy as np
import xarray as xr
w = sys.argv[1]
a, b = (xr.open_dataset(f"{w}/p_{d}.nc") for d in ("cuda", "cpu"))
for name in a.data_vars:
    x, y = a[name].values, b[name].values
    print(f"predict cuda vs cpu, {name}: relative difference "
          f"{np.linalg.norm(x - y) / np.linalg.norm(y):.2e}")
PY
  if [ "$(left)" -gt 200 ]; then
    step "online: configs/online/burgers_fno.yaml, 120 simulations, trainer on the GPU"
    timeout 150 "${pds[@]}" online --config configs/online/burgers_fno.yaml --out "$w/online" \
      --simulations 120 --mpiexec "$PFX/bin/mpiexec" >"$LOG/online.log" 2>&1
    status online "$?"; tail -14 "$LOG/online.log"
  fi
}

benchmarks() {
  local rest
  if [ "$(left)" -gt 150 ]; then
    step "benchmarks/streaming.py: part a (4 KiB, 64 KiB), part b --quick"
    timeout 100 "$PY" benchmarks/streaming.py --part a --sizes 4KiB 64KiB --repeats 5 \
      --mpiexec "$PFX/bin/mpiexec" --json "$LOG/streaming_a.json" 2>&1 | tail -8
    timeout 90 "$PY" benchmarks/streaming.py --part b --quick --mpiexec "$PFX/bin/mpiexec" \
      --json "$LOG/streaming_b.json" 2>&1 | tail -8
  fi
  rest=$(left)
  if [ "$rest" -gt 90 ]; then
    step "benchmarks/training_overhead.py, 3 runs a side, 5 epochs, GPU hidden ($rest s left)"
    CUDA_VISIBLE_DEVICES= timeout $(( rest - 10 )) "$PY" benchmarks/training_overhead.py \
      --repeats 3 --epochs 5 --no-tty --workdir "$WORK/overhead" \
      --json "$LOG/overhead.json" 2>&1 | tail -14
  fi
}

case "${1:-}" in
fetch)
  grep -qsx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
  mkdir -p .whl
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
  ls .whl
  ;;
run)
  install
  tests
  ;;
full)
  install
  step "tests/test_devices.py, tests/models/test_precision.py"
  (tests); status tests "$?"
  commands_on_gpu
  benchmarks
  step done
  ;;
*)
  sed -n '2,19p' "$0" >&2
  exit 2
  ;;
esac
