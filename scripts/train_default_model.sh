#!/usr/bin/env bash
# Reproduces the shipped default model, models/default.onnx, exactly as it was made:
# synthetic data -> training (config/train_default_model.yaml) -> threshold on validation -> test
# evaluation -> ONNX export.
# About 40 minutes on two CPU cores (80 epochs of ~25 s, data and evaluation); minutes on a GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
python -m guidewire_model.synthetic.cli --out data/default_v2 --sequences 80 --frames 8 --size 512 \
  --preset medium --seed 100
python -m guidewire_model.train --config config/train_default_model.yaml
# The threshold is chosen on the validation patients (never the test ones) and stored in the model.
python -m guidewire_model.evaluate --checkpoint runs/default_model/best.pt --data data/default_v2 --split val \
  --out runs/default_model/eval_val --overlays 0
threshold="$(python -c "import json; print(json.load(open('runs/default_model/eval_val/metrics.json'))['best_threshold']['threshold'])")"
python -m guidewire_model.evaluate --checkpoint runs/default_model/best.pt --data data/default_v2 --split test \
  --threshold "$threshold" --out runs/default_model/eval_test
python -m guidewire_model.export --checkpoint runs/default_model/best.pt --threshold "$threshold" --out models/default.onnx
