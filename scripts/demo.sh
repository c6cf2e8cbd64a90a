#!/usr/bin/env bash
# The demo: generate Burgers data -> train an FNO -> export -> predict, all under runs/demo/.
# `make demo` runs this after setting up .venv. Takes a few minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PDS=${PDS:-.venv/bin/pdesurrogate}
OUT=runs/demo
EPOCHS=${EPOCHS:-25}
mkdir -p "$OUT"

echo "== 1/4 generate: 200 Burgers trajectories (256 points, 11 times) -> $OUT/burgers.nc"
$PDS generate --config configs/data/burgers1d.yaml --samples 200 --n_times 11 \
  --solver.init_args.n_points 256 --out "$OUT/burgers.nc"

echo "== 2/4 fit: FNO, $EPOCHS epochs"
rm -rf "$OUT/fit"
$PDS fit --config configs/fit/fno_burgers.yaml --data.path "$OUT/burgers.nc" \
  --trainer.max_epochs "$EPOCHS" --trainer.default_root_dir "$OUT/fit" \
  --model.init_args.model.init_args.hidden_channels 32

CKPT=$(ls -t "$OUT"/fit/csv/version_*/checkpoints/last.ckpt | head -1)
echo "== 3/4 export: $CKPT -> $OUT/model"
$PDS export "$CKPT" "$OUT/model" --overwrite

echo "== 4/4 predict: rollout from the initial states -> $OUT/prediction.nc, $OUT/prediction.png"
$PDS predict --model "$OUT/model" --input "$OUT/burgers.nc" --out "$OUT/prediction.nc" \
  --plot "$OUT/prediction.png"

cat <<TXT

Results in $OUT/:
  burgers.nc        the generated dataset (netCDF4; open with xarray or pdesurrogate.datasets)
  fit/csv/, fit/tensorboard/   CSV and TensorBoard logs; checkpoints in fit/csv/version_*/checkpoints
  model/            exported surrogate: pdesurrogate.load("$OUT/model")
  prediction.nc     surrogate rollout;  prediction.png: prediction vs truth, error vs time
TXT
