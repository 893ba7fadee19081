"""The pipeline's corner_deg setting reaches the tracer: an L of two wires meeting at 90 degrees."""

from __future__ import annotations

import numpy as np
import pytest

from drawn_lines import draw


def _pipeline(**settings):
    from guidewire_model.evaluation.oracle_backend import OracleBackend
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    backend = OracleBackend(128)
    # Two 50 px arms meeting at (40, 40), both free ends inside the view.
    backend.set_mask(draw([[[40, 90], [40, 40], [90, 40]]], size=128, thickness=2))
    return GuidewirePipeline(backend, field_of_view=False, **settings)


def test_a_right_angle_is_one_path_at_100_degrees_and_two_wires_at_70():
    image = np.full((128, 128), 200, np.uint8)
    (one,) = _pipeline(corner_deg=100.0).process(image).wires
    assert one.length_px > 90
    for two in (_pipeline(corner_deg=70.0), _pipeline()):  # 70 is the default
        wires = two.process(image).wires
        assert len(wires) == 2 and all(40 <= w.length_px <= 60 for w in wires)
    with pytest.raises(ValueError, match="corner_deg"):
        _pipeline(corner_deg=10.0)
