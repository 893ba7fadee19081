#!/usr/bin/env bash
# The fine-tuning example of docs/retraining.md: the shipped model (models/default.pt, the training
# checkpoint of models/default.onnx) is fine-tuned on a small annotated set of a scene style it was
# never trained on -- the generator's `easy` preset (wider wires, less noise, fainter vessels), standing
# in for a hospital's own runs -- and scored before and after on held-out patients of that set.
# Same commands as the page's steps 6 and 7. About 20 minutes on two idle CPU cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
data=data/finetune_example
run=runs/finetune_example
# 16 synthetic patients of 6 frames: 4 held out for the test, 2 for validation, 10 train.
[ -d "$data" ] || python -m guidewire_model.synthetic.cli --out "$data" --sequences 16 --frames 6 \
  --size 512 --preset easy --seed 4711 --quiet
# Small-data recipe: the shipped model's last stage (whole frames, the exclude masks' devices weighted
# as errors) from the shipped weights at a lower learning rate (the weights are already good); an
# epoch here is the 60 training frames, whole. Stage 1's config (crops, no device weight) unlearns
# the device rejection here (docs/retraining.md). The run validates the starting weights first (its
# "initial weights" log line). Float32 steps, so it runs alike on any CPU (the config's bfloat16
# steps need bfloat16 units).
python -m guidewire_model.training.train --config config/train_default_model_stage2.yaml --init-from models/default.pt \
  --set data.source=folder --set "data.root=$data" --set data.test_patients=4 --set data.val_patients=2 \
  --set optim.epochs=30 --set optim.lr=0.0002 --set optim.plateau_patience=4 --set amp=false \
  --output-dir "$run" --resume
# Both models on exactly the held-out test patients (the checkpoint's stored split), each at its own
# validation threshold, and the difference with a paired bootstrap interval.
python -m guidewire_model.evaluation.evaluate --model "$run/best.pt" --compare models/default.onnx \
  --data "$data" --split test --out "$run/eval_test"
threshold="$(python -m guidewire_model.training.checkpoint --threshold "$run/best.pt")"
echo "threshold chosen on the validation patients: $threshold"
python -m guidewire_model.training.export --checkpoint "$run/best.pt" --threshold "$threshold" --out "$run/finetuned.onnx"
