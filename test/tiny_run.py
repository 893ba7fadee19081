"""Settings of a real, tiny training run on the generator's scenes: a few seconds on one thread."""

from __future__ import annotations

#: ``load_train_config`` overrides over ``train_demo.yaml``: 64 px whole frames of ``easy`` scenes,
#: a width-4 network, two steps of four frames an epoch, four validation frames.
TINY_SYNTHETIC_RUN = {
    "data.source": "synthetic", "data.synthetic.presets": ["easy"], "data.synthetic.weights": [1.0],
    "data.synthetic.samples_per_epoch": 8, "data.synthetic.frames_per_scene": 2,
    "data.synthetic.crops_per_frame": 1, "data.synthetic.scenes_in_flight": 2, "data.synthetic.val_frames": 4,
    "data.synthetic.val_frames_per_scene": 2, "data.crop_size": 0, "data.num_workers": 0,
    "model.input_size": 64, "model.encoder_width": 4, "optim.batch_size": 4, "optim.micro_batch_size": 4,
    "optim.epochs": 1,
}
