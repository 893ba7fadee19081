#!/usr/bin/env bash
# Trains the shipped default model's recipe and exports it to models/default.onnx, as it was made:
#   stage 1  config/train_default_model.yaml: from scratch on 256 px crops of fresh synthetic scenes
#            (half of them magnified), STAGE1_EPOCHS epochs of 1024 samples -> runs/default_model
#   stage 2  config/train_default_model_stage2.yaml: stage 1's best validation epoch fine-tuned on whole
#            frames with look-alike devices weighted, STAGE2_EPOCHS epochs of 256 -> runs/default_model_stage2
#   -> test evaluation on generator seeds no training or validation scene used -> ONNX export of
#   stage 2's best validation epoch, at the threshold its validation scenes chose.
# Duration, on the two-core developer VM (bfloat16 steps, other tenants' load beside it): stage 1
# 71 min (1.6-2.1 min an epoch), stage 2 40 min; about 1 h 50 min in all. Minutes on a GPU.
# Interrupt it at any time: running the script again resumes exactly where the last completed epoch
# left it, in either stage.
#
#   STAGE1_EPOCHS=N, STAGE2_EPOCHS=N  train the stages this far (defaults: the configs' optim.epochs,
#                 the shipped model's).
#   AMP=0         float32 steps, for a CPU without bfloat16 units (AMX / AVX-512 BF16), which
#                 emulates bfloat16 slowly. The shipped model was trained with bfloat16 steps. A run
#                 resumes only with the setting it started with.
# The recipe of the model shipped before this one (v3: ResNet-18, one stage) is this script at commit
# 592ac30; v3 itself, exactly, at commit e1d75de.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
stage1=runs/default_model
stage2=runs/default_model_stage2
amp=true
[ "${AMP:-1}" = 0 ] && amp=false
python -m guidewire_model.training.train --config config/train_default_model.yaml --output-dir "$stage1" \
  --resume ${STAGE1_EPOCHS:+--set optim.epochs=$STAGE1_EPOCHS} --set "amp=$amp"
python -m guidewire_model.training.train --config config/train_default_model_stage2.yaml --output-dir "$stage2" \
  --resume --init-from "$stage1/best.pt" ${STAGE2_EPOCHS:+--set optim.epochs=$STAGE2_EPOCHS} --set "amp=$amp"
# The decision threshold: the F1-best one on the validation scenes at the epoch best.pt was kept.
threshold="$(python -m guidewire_model.training.checkpoint --threshold "$stage2/best.pt")"
echo "threshold chosen on validation: $threshold"
# Test scenes from seeds far from training (>= 2**31) and validation (1,000,000 and up).
for preset in medium hard varied; do
  seed=$(( $(printf '%s' "$preset" | cksum | cut -d' ' -f1) % 100000 + 7000 ))
  [ -d "data/test_$preset" ] || python -m guidewire_model.synthetic.cli --out "data/test_$preset" \
    --sequences 12 --frames 4 --size 512 --preset "$preset" --seed "$seed"
  python -m guidewire_model.evaluation.evaluate --model "$stage2/best.pt" --data "data/test_$preset" --split all \
    --threshold "$threshold" --out "$stage2/eval_$preset"
  # The same medium and hard scenes with no contrast agent in the vessels: most of a PCI's fluoroscopy
  # runs without it, and models find wires far worse there (docs/accuracy.md, "Contrast agent").
  [ "$preset" = varied ] && continue
  [ -d "data/test_${preset}_nocontrast" ] || python -m guidewire_model.synthetic.cli \
    --out "data/test_${preset}_nocontrast" --sequences 12 --frames 4 --size 512 --preset "$preset" --seed "$seed" \
    --no-contrast-probability 1
  python -m guidewire_model.evaluation.evaluate --model "$stage2/best.pt" --data "data/test_${preset}_nocontrast" \
    --split all --threshold "$threshold" --out "$stage2/eval_${preset}_nocontrast"
done
python -m guidewire_model.training.export --checkpoint "$stage2/best.pt" --threshold "$threshold" --out models/default.onnx
# Its training checkpoint, slim (weights, config, history), for fine-tuning: --init-from models/default.pt
python -m guidewire_model.training.checkpoint --slim "$stage2/best.pt" models/default.pt
