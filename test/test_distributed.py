"""Data-parallel training under torchrun: two CPU ranks (Gloo) stay in sync, metrics are exact."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from guidewire_model.training import distributed as dist_utils
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.synthetic import SyntheticConfig, write_dataset

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_helpers_are_identities() -> None:
    assert dist_utils.world_size() == 1 and dist_utils.rank() == 0 and dist_utils.is_main()
    counts = np.array([3, 1, 4, 1], dtype=np.int64)
    summed = dist_utils.all_reduce_sum(counts)
    assert summed.dtype == np.int64 and np.array_equal(summed, counts) and summed is not counts
    t = torch.tensor([1.5, 2.0])
    assert torch.equal(dist_utils.all_reduce_sum(t), t)
    assert dist_utils.all_gather_object("x") == ["x"]
    dist_utils.barrier()
    with pytest.raises(TypeError, match="numpy array or torch.Tensor"):
        dist_utils.all_reduce_sum([1, 2])


def test_two_gloo_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # 5 frames per sequence: an odd validation set, which a padding sampler would count twice.
    write_dataset(data, 4, 5, SyntheticConfig.preset("easy", size=64), seed=11, progress=False)
    out = tmp_path / "ddp"
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        "-m", "guidewire_model.training.train", "--config", str(config_dir() / "train_demo.yaml"),
        "--set", f"data.root={data}", "--set", "model.input_size=64", "--set", "model.encoder_width=8",
        "--set", "optim.batch_size=4", "--set", "optim.micro_batch_size=1", "--set", "optim.epochs=2",
        "--output-dir", str(out),
    ]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    checksums = summary["param_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1], checksums
    # Exact validation metrics: every validation pixel counted once across the two ranks.
    split = json.loads((out / "split.json").read_text())
    n_val_frames = 5 * len(split["val"])
    final = summary["final_val"]
    assert final["tp"] + final["fp"] + final["fn"] + final["tn"] == n_val_frames * 64 * 64
    # Only rank 0 wrote: one TensorBoard event file, one log.
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1
    assert summary["epochs_run"] == 2
