"""The node benchmark: its figures on inputs whose answer is known, and the command end to end."""

import json
import math
import subprocess
import sys

import pytest

from guidewire_seg_ros.tools.node_bench import overheads, served_fps
from tiny_model import export_tiny_model


def test_served_fps_is_the_rate_results_came_out():
    # 11 results 50 ms apart: 20 per second, whatever order they are listed in.
    received = [1_000_000_000 + k * 50_000_000 for k in range(11)]
    assert served_fps(received[::-1]) == pytest.approx(20.0)
    # Results still arriving after the sender stopped do not inflate the rate: 3 results over 2 s.
    assert served_fps([0, 1_000_000_000, 2_000_000_000]) == pytest.approx(1.0)
    assert math.isnan(served_fps([5])) and math.isnan(served_fps([])) and math.isnan(served_fps([7, 7]))


def test_overheads_on_known_measurements():
    # Offline 10 ms/frame (100 FPS); the node served 80 FPS when saturated: it costs 25 % throughput.
    # Closed loop 12 ms per frame against 10 ms offline: the round trip adds 20 %. The node's own
    # work (decode + messages + publish) takes 0.5 ms beside a 10 ms pipeline: 5 %.
    got = overheads(offline={"fps": 100.0, "ms_mean": 10.0}, closed={"ms_mean": 12.0},
                    split={"node_own_ms_p50": 0.5, "pipeline_ms_p50": 10.0}, saturated={"served_fps": 80.0})
    assert got == pytest.approx({"throughput": 0.25, "round_trip": 0.2, "node_own_work": 0.05})
    # A node as fast as the pipeline alone costs nothing.
    same = overheads(offline={"fps": 50.0, "ms_mean": 20.0}, closed={"ms_mean": 20.0},
                     split={"node_own_ms_p50": 0.0, "pipeline_ms_p50": 20.0}, saturated={"served_fps": 50.0})
    assert same == pytest.approx({"throughput": 0.0, "round_trip": 0.0, "node_own_work": 0.0})


@pytest.mark.ros
def test_node_bench_runs_end_to_end_and_accounts_for_every_frame(tmp_path):
    frames = 20
    model = export_tiny_model(tmp_path)
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "guidewire_seg_ros.tools.node_bench", "--model", str(model),
                           "--frames", str(frames), "--size", "128", "--rate", "20", "--json", str(out),
                           "--log", str(tmp_path / "node.log")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["frames"] == frames
    # Closed loop: each frame waits for its answer, so every frame is answered.
    assert result["closed_loop"]["unanswered"] == 0
    for name in ("saturated", "open_loop"):
        run = result[name]
        # Every frame was sent, and no result is counted twice (results are matched to inputs by stamp).
        assert run["published"] == frames and 1 <= run["served"] <= frames, name
        assert 0 < run["latency_p50_ms"] <= run["latency_p99_ms"], name
    assert result["saturated"]["rate_hz"] == pytest.approx(2 * result["offline"]["fps"])
    split = result["node_split"]
    # The node's own diagnostics reported its time split (NaN if its /diagnostics never came).
    assert split["pipeline_ms_p50"] > 0 and split["node_own_ms_p50"] > 0
    assert all(math.isfinite(v) for v in result["overhead"].values())
    assert "node overhead, throughput" in proc.stdout
