"""Burned-in annotations: text, rulers, L/R markers and crosshairs drawn over the displayed image.

Consoles and recorders write acquisition data (kV, mA, angulation, frame counters, dates) and
markers into the exported image. They are drawn last, over everything, white or black; they
never change the ground truth: the wire under a letter is still the wire (thin strokes hide at
most a few of its pixels), and a crosshair line is a look-alike that is not guidewire.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Overlay", "draw_overlay", "sample_overlay"]

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL)


@dataclass(frozen=True)
class _Text:
    template: str  # may hold {frame} and {time}
    origin: tuple[int, int]
    font: int
    scale: float
    thickness: int
    value: float


@dataclass(frozen=True)
class _Shape:
    kind: str  # "line" | "circle" | "rect"
    a: tuple[int, int]
    b: tuple[int, int]
    thickness: int
    value: float


@dataclass(frozen=True)
class Overlay:
    """One sequence's burned-in items; text may change per frame (frame counter, clock)."""

    texts: tuple[_Text, ...]
    shapes: tuple[_Shape, ...]
    t0: float


def _random_text(rng: np.random.Generator) -> str:
    kv, ma = int(rng.integers(60, 110)), rng.uniform(1.0, 12.0)
    choices = [
        f"{kv} kV  {ma:.1f} mA",
        f"LAO {int(rng.integers(0, 60))}  {'CRA' if rng.random() < 0.5 else 'CAU'} {int(rng.integers(0, 40))}",
        f"RAO {int(rng.integers(0, 45))}",
        "F {frame:03d}",
        "Frame {frame}",
        "{time}",
        f"ID {int(rng.integers(1000, 9999))}-{int(rng.integers(10, 99))}",
        f"20{int(rng.integers(10, 25)):02d}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
        f"Zoom {rng.uniform(1.0, 2.0):.1f}",
        f"{int(rng.choice([7, 10, 15, 30]))} fps",
        f"DAP {rng.uniform(0.5, 90):.1f} Gycm2",
        f"FOV {int(rng.choice([15, 20, 25, 31, 42]))} cm",
        "FLUORO", "CINE", "LIH", "SID 105",
    ]
    return str(choices[int(rng.integers(len(choices)))])


def sample_overlay(rng: np.random.Generator, size: int, probability: float) -> Overlay | None:
    """Draw one sequence's burned-in text and markers (None with probability ``1 - probability``)."""
    if not rng.random() < probability:
        return None
    s, k = float(size), size / 512.0
    white = 1.0 if rng.random() < 0.7 else 0.0
    texts: list[_Text] = []
    # Text blocks in some of the corners, one to three lines each.
    for corner in rng.permutation(4)[: int(rng.integers(1, 5))]:
        font = int(_FONTS[int(rng.integers(len(_FONTS)))])
        scale = rng.uniform(0.35, 0.65) * max(k, 0.3)
        thickness = 1 if rng.random() < 0.8 or k < 0.75 else 2
        line_h = int(round(24 * scale)) + 3
        n_lines = int(rng.integers(1, 4))
        x = int(rng.uniform(0.01, 0.04) * s) if corner in (0, 2) else int(s * rng.uniform(0.62, 0.75))
        if corner in (0, 1):
            y0 = int(rng.uniform(0.03, 0.06) * s) + line_h
        else:
            y0 = int(s - rng.uniform(0.02, 0.05) * s) - (n_lines - 1) * line_h
        for j in range(n_lines):
            texts.append(_Text(_random_text(rng), (x, y0 + j * line_h), font, float(scale), thickness, white))
    shapes: list[_Shape] = []
    if rng.random() < 0.5:
        # L / R side marker, often boxed.
        font = int(_FONTS[int(rng.integers(len(_FONTS)))])
        scale = rng.uniform(0.8, 1.6) * max(k, 0.3)
        pos = (int(rng.uniform(0.05, 0.9) * s), int(rng.uniform(0.1, 0.95) * s))
        texts.append(_Text("L" if rng.random() < 0.5 else "R", pos, font, float(scale), 2 if k >= 0.75 else 1, white))
        if rng.random() < 0.5:
            w = int(28 * scale)
            shapes.append(_Shape("rect", (pos[0] - 4, pos[1] - w - 4), (pos[0] + w, pos[1] + 6), 1, white))
    if rng.random() < 0.5:
        # A ruler along one side: a line with ticks every ~1 cm, longer every fifth.
        vertical = rng.random() < 0.5
        along0, along1 = sorted(rng.uniform(0.1, 0.9, 2) * s)
        along1 = max(along1, along0 + 0.25 * s)
        across = int(rng.uniform(0.02, 0.08) * s) if rng.random() < 0.5 else int(s - rng.uniform(0.02, 0.08) * s)
        step = rng.uniform(12, 28) * k
        sign = 1 if across < s / 2 else -1

        def pt(a: float, c: float) -> tuple[int, int]:
            return (int(c), int(a)) if vertical else (int(a), int(c))

        shapes.append(_Shape("line", pt(along0, across), pt(min(along1, s - 2), across), 1, white))
        for i, a in enumerate(np.arange(along0, min(along1, s - 2), step)):
            length = (10 if i % 5 == 0 else 5) * max(k, 0.5)
            shapes.append(_Shape("line", pt(a, across), pt(a, across + sign * length), 1, white))
    if rng.random() < 0.4:
        # Crosshair (centre marker): thin lines, sometimes with a circle.
        c = (int(s / 2 + rng.normal(0, 0.1 * s)), int(s / 2 + rng.normal(0, 0.1 * s)))
        arm, gap = int(rng.uniform(8, 40) * k) + 3, int(rng.uniform(0, 6) * k)
        value = white if rng.random() < 0.7 else 1.0 - white
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            shapes.append(_Shape("line", (c[0] + dx * gap, c[1] + dy * gap), (c[0] + dx * arm, c[1] + dy * arm), 1, value))
        if rng.random() < 0.4:
            shapes.append(_Shape("circle", c, (int(arm * 0.6) + 2, 0), 1, value))
    return Overlay(tuple(texts), tuple(shapes), t0=float(rng.uniform(0, 3600)))


def draw_overlay(display: np.ndarray, overlay: Overlay, frame_index: int, fps: float) -> np.ndarray:
    """Draw ``overlay`` for frame ``frame_index`` over a display image in [0, 1] (returns a new array).

    Items are rasterised (antialiased) into one coverage layer per grey value and blended over
    the image, so strokes look like the console's rendering rather than pasted pixels.
    """
    h, w = display.shape
    layers: dict[float, np.ndarray] = {}

    def layer(value: float) -> np.ndarray:
        if value not in layers:
            layers[value] = np.zeros((h, w), np.uint8)
        return layers[value]

    seconds = overlay.t0 + frame_index / fps
    clock = f"{int(seconds // 3600) % 24:02d}:{int(seconds // 60) % 60:02d}:{seconds % 60:05.2f}"
    for item in overlay.texts:
        text = item.template.format(frame=frame_index + 1, time=clock)
        cv2.putText(layer(item.value), text, item.origin, item.font, item.scale, 255, item.thickness, cv2.LINE_AA)
    for item in overlay.shapes:
        canvas = layer(item.value)
        if item.kind == "line":
            cv2.line(canvas, item.a, item.b, 255, item.thickness, cv2.LINE_AA)
        elif item.kind == "rect":
            cv2.rectangle(canvas, item.a, item.b, 255, item.thickness, cv2.LINE_AA)
        else:
            cv2.circle(canvas, item.a, item.b[0], 255, item.thickness, cv2.LINE_AA)
    out = display
    for value, canvas in layers.items():
        alpha = canvas.astype(np.float32) * np.float32(1.0 / 255.0)
        out = out * (1.0 - alpha) + np.float32(value) * alpha
    return out
