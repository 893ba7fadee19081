#!/usr/bin/env bash
# Reproduces the shipped default model, models/default.onnx, exactly as it was made:
# synthetic data -> training (config/train_default_model.yaml) -> evaluation -> ONNX export.
# About an hour on two CPU cores; minutes on a GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
python -m guidewire_model.synthetic.cli --out data/default --sequences 32 --frames 16 --size 512 \
  --preset medium --seed 100
python -m guidewire_model.train --config config/train_default_model.yaml
python -m guidewire_model.evaluate --checkpoint runs/default_model/best.pt --data data/default --split test \
  --out runs/default_model/eval
python -m guidewire_model.export --checkpoint runs/default_model/best.pt --out models/default.onnx
