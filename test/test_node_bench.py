"""The node benchmark command runs end to end on a tiny model and reports consistent figures."""

import json
import subprocess
import sys

import pytest

from tiny_model import export_tiny_model

pytestmark = pytest.mark.ros


def test_node_bench_reports_overheads_and_the_node_time_split(tmp_path):
    model = export_tiny_model(tmp_path)
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "guidewire_seg_ros.node_bench", "--model", str(model),
                           "--frames", "20", "--size", "128", "--rate", "20", "--json", str(out),
                           "--log", str(tmp_path / "node.log")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["closed_loop"]["unanswered"] == 0
    assert result["saturated"]["served"] >= 1 and result["open_loop"]["served"] >= 1
    split = result["node_split"]
    assert split["pipeline_ms_p50"] > 0 and split["node_own_ms_p50"] > 0
    overhead = result["overhead"]
    assert overhead["node_own_work"] == pytest.approx(split["node_own_ms_p50"] / split["pipeline_ms_p50"])
    assert overhead["round_trip"] == pytest.approx(
        result["closed_loop"]["ms_mean"] / result["offline"]["ms_mean"] - 1)
    assert "node overhead, throughput" in proc.stdout
