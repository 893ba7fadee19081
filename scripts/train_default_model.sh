#!/usr/bin/env bash
# Reproduces the shipped default model, models/default.onnx, exactly as it was made:
# training on fresh synthetic scenes (config/train_default_model.yaml; the threshold is the one the
# validation scenes chose at the best epoch) -> test evaluation on generator seeds no training or
# validation scene used -> ONNX export.
# Training is up to 60 epochs of 1024 samples: about 2 min 40 s an epoch on two idle CPU cores
# (~2.7 h for 60), more under load; minutes on a GPU. Interrupt it at any time: running the script
# again resumes the run exactly where its last completed epoch left it.
#
#   EPOCHS=N      train up to epoch N (default 60). The shipped model is the best of epochs 1-30:
#                 FROM_SCRATCH=1 EPOCHS=30 bash scripts/train_default_model.sh rebuilds it exactly.
#   FROM_SCRATCH=1  ignore the run committed under models/training/ and start from epoch 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
run=runs/default_model
# A run that spans several sessions is committed under models/training/ (its last.pt, and a slim
# copy of its best.pt; see models/training/README.md); a fresh checkout continues from them, which
# exact resume makes identical to one uninterrupted run (FROM_SCRATCH=1 starts over instead).
epochs="${EPOCHS:-60}"
if [ "${FROM_SCRATCH:-0}" = 1 ]; then
  run=runs/default_model_scratch
elif [ ! -f "$run/last.pt" ] && [ -f models/training/default_model_last.pt ]; then
  echo "continuing the committed run from models/training/"
  mkdir -p "$run"
  cp models/training/default_model_last.pt "$run/last.pt"
  cp models/training/default_model_best.pt "$run/best.pt"
fi
python -m guidewire_model.training.train --config config/train_default_model.yaml --output-dir "$run" --resume \
  --set "optim.epochs=$epochs"
# The decision threshold: the F1-best one on the validation scenes at the epoch best.pt was kept.
threshold="$(python -m guidewire_model.training.checkpoint --threshold "$run/best.pt")"
echo "threshold chosen on validation: $threshold"
# Test scenes from seeds far from training (>= 2**31) and validation (1,000,000 and up).
for preset in medium hard varied; do
  seed=$(( $(printf '%s' "$preset" | cksum | cut -d' ' -f1) % 100000 + 7000 ))
  [ -d "data/test_$preset" ] || python -m guidewire_model.synthetic.cli --out "data/test_$preset" \
    --sequences 12 --frames 4 --size 512 --preset "$preset" --seed "$seed"
  python -m guidewire_model.evaluation.evaluate --model "$run/best.pt" --data "data/test_$preset" --split all \
    --threshold "$threshold" --out "$run/eval_$preset"
done
python -m guidewire_model.training.export --checkpoint "$run/best.pt" --threshold "$threshold" --out models/default.onnx
# Its training checkpoint, slim (weights, config, history), for fine-tuning: --init-from models/default.pt
python -m guidewire_model.training.checkpoint --slim "$run/best.pt" models/default.pt
