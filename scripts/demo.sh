#!/usr/bin/env bash
# The demo: an online run (solver ranks stream Burgers trajectories over MPI into FNO training),
# then inference with the exported surrogate on fresh data, all under runs/demo/.
# `make demo` runs this after setting up .venv. Takes a few minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PDS=${PDS:-.venv/bin/pdesurrogate}
OUT=runs/demo
SIMS=${SIMS:-400}
RESUME=()
if [ -f "$OUT/checkpoint/manifest.json" ] && grep -qs '"status": "stopped"' "$OUT/summary.json"
then
  echo "== $OUT holds a stopped demo run: resuming it (rm -rf $OUT to start over)"
  RESUME=(--resume)
else
  rm -rf "$OUT"
  mkdir -p "$OUT"
fi

echo "== 1/3 online: 3 solver ranks -> MPI -> 1 trainer rank (FNO), $SIMS simulations"
# a stopped run exits non-zero, so the demo stops there too
$PDS online --config configs/online/burgers_fno.yaml --out "$OUT" --simulations "$SIMS" \
  "${RESUME[@]}"

echo "== 2/3 generate: 16 unseen Burgers trajectories (same solver settings) -> $OUT/test.nc"
$PDS generate --config configs/data/burgers1d.yaml --samples 16 --seed 777 --t_end 0.5 \
  --n_times 11 --solver.init_args.n_points 128 --out "$OUT/test.nc" --workers 1

echo "== 3/3 predict: rollout from their initial states -> $OUT/prediction.nc, .png"
$PDS predict --model "$OUT/model" --input "$OUT/test.nc" --out "$OUT/prediction.nc" \
  --plot "$OUT/prediction.png"

cat <<TXT

Results in $OUT/:
  model/            exported surrogate: pdesurrogate.load("$OUT/model")
  summary.json      the run: simulations, samples and MB received, idle fraction, validation
  online.png        samples/s, buffer fill, idle fraction, seen counts vs training step
  rollout.png       a validation trajectory: prediction vs truth, error vs time
  csv/, tensorboard/  logs (tensorboard --logdir $OUT/tensorboard)
  test.nc, prediction.nc, prediction.png   inference on unseen data
Stop an online run with Ctrl-C: it writes $OUT/checkpoint/; add --resume to continue
(make demo resumes a stopped demo run by itself).
TXT
