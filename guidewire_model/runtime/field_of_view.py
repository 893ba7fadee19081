"""The valid X-ray field of a fluoroscopy frame, estimated from the image alone.

Collimator blades, round iris shutters, black or white letterbox borders and burned-in text are
part of every real fluoroscopy frame, and a segmentation network (trained on frames without them,
like ours on the synthetic generator) readily marks their straight, high-contrast edges as wire.
A controller must never steer along such an edge, so the pipeline asks this module where a wire can
be seen at all and zeroes the wire probability everywhere else before thresholding: neither the
mask nor the centrelines can then use those pixels. The estimate uses the input image only, never
the model, so a model error cannot widen it.

Rule (:func:`estimate_field`), with ``lo`` / ``hi`` the darkest / brightest value of the frame
(averaged over 2 x 2 pixels at 512 px) and ``range = hi - lo``:

1. **Shutters and borders.** The frame is averaged into blocks of about ``side / 128`` pixels
   (OpenCV ``INTER_AREA``; per-block mean and standard deviation from the means of the image and
   of its square). A block is *shutter-like* when it is uniform (std at most ``flat_tolerance``
   of the range) and near-black or near-saturated (mean within ``level_tolerance`` of ``lo`` or
   ``hi``), or when it is constant at any level (std at most 0.15 % of the range: a console's
   dark-grey blanking; X-ray anatomy always carries quantum noise). Shutter-like regions that
   touch the image border, cover at least ``min_region_fraction`` of the frame and are at least
   three blocks thick somewhere are outside the field: binary morphological reconstruction from
   the border (Vincent 1993), done as connected-component labelling. The size and thickness tests
   keep what the display clipped to black inside the anatomy (a catheter, dense tissue at the
   border) in the field. The three kinds -- near-black, near-saturated, and constant at a level
   between -- form regions separately, and a constant one must also lie at one level (its block
   means' 2nd to 98th percentiles within ``_BLANKING_SPREAD`` of the range). Anatomy that a
   display's noise reduction or an upsampled low-resolution frame flattened to 8-bit steps is
   constant within blocks too. Its level drifts, though, and it meets a black iris or blade from
   inside: labelled together with the iris, it was cut out of the field with it, wires and all
   (figures in ``docs/reliability.md``). A cost: a black iris corner smaller than
   ``min_region_fraction`` no longer counts because flattened anatomy joined it.
2. **Holes.** Regions left enclosed by those shutters (text inside a black band, a corner cut off
   by an iris and a blade) are outside too: only the largest remaining region, and any other at
   least a quarter its size, is the field (hole filling, Soille 2003, ch. 6).
3. **Edges to about a pixel.** The blocks straddling a shutter edge are resolved on a grid twice
   as fine: their pixels within ``level_tolerance`` of the level of the excluded region beside
   them join it.
4. **Burned-in text** (``detect_text``), conservatively, after connected-component text location
   (Jain & Yu 1998): in the outer fifth of the frame and away from shutters, the pixels within
   ``text_tolerance`` of ``lo`` or ``hi`` (glyph strokes are drawn at the extremes) are labelled
   where blocks hold some of them on a background at least 20 % of the range away; components
   4 px to 8 % of the side high and no wider are glyphs; glyphs whose rows overlap by half and
   whose gaps are below a glyph height form a line; a line of at least three glyphs, at least
   twice as wide as high, on its own background 20 % of the range away from the glyph level, is
   text, and its box (padded by a glyph height along the line) is outside the field. A guidewire
   is thin and dark too, but it is one long component, not a row of small ones. Not detected:
   single markers ("L", ruler ticks, crosshairs), text in small anti-aliased fonts whose strokes
   never reach the extreme level, and low-contrast text (black on the dark diaphragm).
5. **Margins.** The field ends ``margin_px`` beyond every excluded pixel (a chamfer distance
   transform, Borgefors 1986, on the fine grid, interpolated to the input's pixels: accurate to
   about a pixel) and ``border_margin_px`` inside the image border.

Cost, CPU time on one core of the loaded 2-core VM (a training run beside it), 512 x 512 uint8,
one OpenCV thread: about 0.6 ms for a frame without shutters and 2 ms with text detection; 2.3 ms
with shutter bands or an iris, 3.5-4 ms with text detection too (which, at 1.3-1.5 ms, costs more
than the rest). Larger frames cost in proportion to their pixels for the first pass only (the rest
works on a 256-pixel grid).

References
----------
L. Vincent, "Morphological grayscale reconstruction in image analysis: applications and efficient
algorithms", IEEE Trans. Image Processing 2(2):176-201, 1993.
P. Soille, *Morphological Image Analysis*, 2nd ed., Springer, 2003.
A. K. Jain, B. Yu, "Automatic text location in images and video frames", Pattern Recognition
31(12):2055-2076, 1998.
G. Borgefors, "Distance transformations in digital images", CVGIP 34:344-371, 1986.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from guidewire_model.core.polyline import border_distance

__all__ = ["FieldOfView", "estimate_field", "valid_field"]

# Side of the coarse block grid the shutter test runs on; the fine grid (edges, distances) is twice it.
_COARSE_SIDE = 128
# Text is looked for only this close to the image border (fraction of the side).
_TEXT_BAND = 0.2
# Glyph height range, as fractions of the shorter side (with a floor in pixels).
_GLYPH_MIN_PX, _GLYPH_MAX_FRACTION = 4, 0.08
# More glyph-like components than this (a noisy frame at its extremes) means no text is detected.
_MAX_GLYPHS = 600
# A block whose standard deviation is at most this fraction of the range is constant (the least
# in anatomy of 48 synthetic high-dose frames: 0.0029).
_CONSTANT = 0.0015
# A blanked (constant, neither black nor white) region's block means span at most this fraction of
# the range between their 2nd and 98th percentiles: one fill level, up to rounding and a blade's
# shading; flattened anatomy drifts more (the generator's cases sit either side of it).
_BLANKING_SPREAD = 0.02


@dataclass(frozen=True)
class FieldOfView:
    """Where in a frame a guidewire can be seen, with the distance to the field's edge.

    Attributes
    ----------
    valid : ndarray, (H, W) bool
        True inside the field (shutters, borders, burned-in text and the margins excluded).
    shutter_fraction : float
        Fraction of the frame excluded for shutters, borders, enclosed regions and text, before the
        margins (0 for a frame without any).
    text_boxes : tuple of (x0, y0, x1, y1)
        Detected burned-in text lines, input pixels, end-exclusive, before padding.
    """

    valid: np.ndarray
    shutter_fraction: float
    text_boxes: tuple[tuple[int, int, int, int], ...]
    _border_margin_px: float
    _margin_px: float
    _core_distance: np.ndarray | None  # fine grid: distance [input px] to the nearest excluded pixel

    @property
    def shape(self) -> tuple[int, int]:
        return self.valid.shape

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Distance [px] from each (x, y) point to the nearest pixel outside the valid field.

        Positive inside the field (about 1 for a pixel next to its edge), at most 0 outside. Uses the
        image border analytically and the shutter / text distance map of the fine grid, interpolated
        bilinearly (accurate to about a pixel).
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        d = border_distance(pts, self.valid.shape) - self._border_margin_px
        if self._core_distance is not None and len(pts):
            h, w = self.valid.shape
            x, y = pts[:, 0], pts[:, 1]
            fh, fw = self._core_distance.shape
            # Bilinear, with the pixel-centre convention of cv2.resize (as ``valid`` was made).
            u = np.clip((x + 0.5) * fw / w - 0.5, 0.0, fw - 1.0)
            v = np.clip((y + 0.5) * fh / h - 0.5, 0.0, fh - 1.0)
            u0 = np.minimum(np.floor(u).astype(np.intp), fw - 2) if fw > 1 else np.zeros(len(u), np.intp)
            v0 = np.minimum(np.floor(v).astype(np.intp), fh - 2) if fh > 1 else np.zeros(len(v), np.intp)
            fu, fv = u - u0, v - v0
            m = self._core_distance
            u1, v1 = np.minimum(u0 + 1, fw - 1), np.minimum(v0 + 1, fh - 1)
            core = ((1 - fv) * ((1 - fu) * m[v0, u0] + fu * m[v0, u1]) + fv * ((1 - fu) * m[v1, u0] + fu * m[v1, u1]))
            d = np.minimum(d, core - self._margin_px)
        return d

    def apply(self, probability: np.ndarray) -> np.ndarray:
        """Set ``probability`` to 0 outside the field, in place; returns it."""
        if probability.shape != self.valid.shape:
            raise ValueError(f"probability shape {probability.shape} differs from the field's {self.valid.shape}")
        probability[~self.valid] = 0
        return probability


def valid_field(image: np.ndarray, **kwargs) -> np.ndarray:
    """Boolean mask of the frame's valid X-ray field of view (no model involved).

    Parameters
    ----------
    image : ndarray, (H, W), uint8, uint16 or float (finite)
        The grayscale fluoroscopy frame as given to the pipeline.
    **kwargs
        Passed to :func:`estimate_field` (``margin_px``, ``border_margin_px``, ``detect_text``, ...).

    Returns
    -------
    ndarray, (H, W) bool
        True where a guidewire can be seen. False (the rule; details in the module docstring):

        * in every region connected to the image border that is uniformly near-black or
          near-saturated, or constant, over at least 1.5 % of the frame (shutter blades, round iris
          shutters, black letterbox bars, white borders) -- morphological reconstruction from the
          border (L. Vincent, IEEE Trans. Image Processing 2(2):176-201, 1993);
        * in regions those enclose (hole filling);
        * on lines of burned-in text near the border (three or more glyph-sized components at the
          extreme level in a row, as in connected-component text location, A. K. Jain and B. Yu,
          Pattern Recognition 31(12):2055-2076, 1998);
        * within ``margin_px`` (default 6) of any of these and ``border_margin_px`` (default 3) of
          the image border.

        A frame without shutters or text is valid everywhere but its ``border_margin_px`` frame; a
        constant frame is valid nowhere (it shows nothing). Costs about 1-4 ms at 512 x 512 on one
        core (module docstring).

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or is empty, or a margin is negative.
    """
    return estimate_field(image, **kwargs).valid


def estimate_field(
    image: np.ndarray,
    *,
    margin_px: float = 6.0,
    border_margin_px: float = 3.0,
    detect_text: bool = True,
    level_tolerance: float = 0.08,
    flat_tolerance: float = 0.015,
    min_region_fraction: float = 0.015,
    text_tolerance: float = 0.04,
) -> FieldOfView:
    """The valid field of ``image`` and the distance to its edge; the rule is the module's.

    Parameters
    ----------
    image : ndarray, (H, W), uint8, uint16 or float
        Grayscale frame; non-finite values are treated as 0.
    margin_px : float
        The field ends this far [px] inside every shutter, border band or text edge.
    border_margin_px : float
        The field ends this far [px] inside the image border (the model's output is least reliable
        there: padding, and shutters narrower than a block).
    detect_text : bool
        Look for burned-in text lines near the border (step 4).
    level_tolerance : float
        A block is near-black / near-saturated within this fraction of the image's range of its
        darkest / brightest value.
    flat_tolerance : float
        A block is uniform when its pixels' standard deviation is at most this fraction of the range.
    min_region_fraction : float
        Border-connected uniform regions smaller than this fraction of the frame are kept (dark
        anatomy or a catheter at the border; the border margin covers thin bands).
    text_tolerance : float
        Glyph pixels are within this fraction of the range of the darkest / brightest value.

    Returns
    -------
    FieldOfView

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or is empty, or a margin is negative.
    """
    img = np.asarray(image)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"image must be a non-empty 2-D (H, W) array, got shape {img.shape}")
    if margin_px < 0 or border_margin_px < 0:
        raise ValueError(f"margins must be >= 0, got margin_px={margin_px}, border_margin_px={border_margin_px}")
    h, w = img.shape
    full = img.astype(np.float32)
    if img.dtype.kind == "f" and not np.isfinite(full).all():
        full[~np.isfinite(full)] = 0.0

    # Fine grid (~256 px on the long side) and coarse blocks of 2 x 2 fine pixels.
    g = max(1, int(round(max(h, w) / (2 * _COARSE_SIDE))))
    fw, fh = max(2, (w // g) // 2 * 2), max(2, (h // g) // 2 * 2)
    scale, scale_y = w / fw, h / fh  # input px per fine px (equal up to rounding)
    fine = cv2.resize(full, (fw, fh), interpolation=cv2.INTER_AREA)
    fine_sq = cv2.resize(full * full, (fw, fh), interpolation=cv2.INTER_AREA)
    lo, hi = float(fine.min()), float(fine.max())
    span = hi - lo

    border_only = _border_mask((h, w), border_margin_px)
    if span <= 1e-6 * max(abs(hi), 1.0):
        # Constant frame: nothing to see anywhere.
        return FieldOfView(np.zeros((h, w), bool), 1.0, (), border_margin_px, margin_px,
                           np.zeros((fh, fw), np.float32))

    cw, ch = fw // 2, fh // 2
    coarse = cv2.resize(fine, (cw, ch), interpolation=cv2.INTER_AREA)
    coarse_sq = cv2.resize(fine_sq, (cw, ch), interpolation=cv2.INTER_AREA)
    # Normalise before differencing so the variance keeps its precision for 16-bit data.
    cn = (coarse - lo) / span
    var = (coarse_sq - 2.0 * lo * coarse + lo * lo) / (span * span) - cn * cn
    flat = var <= flat_tolerance * flat_tolerance
    black = flat & (cn <= level_tolerance)
    white = flat & (cn >= 1.0 - level_tolerance)
    # Constant at any level: a shutter blanked to dark grey (X-ray anatomy always carries noise).
    # A blanked region is one level throughout. Anatomy that noise reduction or upsampling flattened
    # to 8-bit steps is constant within blocks too, but its level drifts across the region.
    constant = var <= _CONSTANT * _CONSTANT
    # Each kind must reach the image border by itself: bright lung or dark diaphragm flattened by the
    # display meets a black iris or blade from inside, and is not a shutter for that.
    core_coarse = (_border_regions(black, min_region_fraction) | _border_regions(white, min_region_fraction)
                   | _border_regions(constant & ~black & ~white, min_region_fraction, cn, _BLANKING_SPREAD))
    if core_coarse.any():
        core_coarse = _fill_enclosed(core_coarse)

    core_fine = np.zeros((fh, fw), bool)
    if core_coarse.any():
        core_fine = cv2.resize(core_coarse.view(np.uint8), (fw, fh), interpolation=cv2.INTER_NEAREST).astype(bool)
        # Blocks straddling an edge were not uniform: on the fine grid, their pixels at the level of
        # the excluded region beside them (within level_tolerance) join it.
        kernel = np.ones((5, 5), np.uint8)
        ring = cv2.dilate(core_fine.view(np.uint8), kernel).astype(bool) & ~core_fine
        far = np.float32(4.0 * (abs(hi) + abs(lo) + 1.0))  # beyond any value: "no excluded pixel here"
        near_max = cv2.dilate(np.where(core_fine, fine, -far), kernel)
        near_min = cv2.erode(np.where(core_fine, fine, far), kernel)
        tol = level_tolerance * span
        core_fine |= ring & (fine >= near_min - tol) & (fine <= near_max + tol)

    boxes: tuple[tuple[int, int, int, int], ...] = ()
    if detect_text:
        boxes = _text_lines(img, full, coarse, core_coarse, min(lo, float(full.min())), max(hi, float(full.max())),
                            text_tolerance)
        for x0, y0, x1, y1 in boxes:
            # Padded by a glyph height along the line (a last glyph missed) and a third of it across.
            pad_x, pad_y = y1 - y0, max(2, int(round(0.3 * (y1 - y0))))
            core_fine[max(0, int((y0 - pad_y) / scale_y)):int(math.ceil((y1 + pad_y) / scale_y)),
                      max(0, int((x0 - pad_x) / scale)):int(math.ceil((x1 + pad_x) / scale))] = True

    if not core_fine.any():
        return FieldOfView(border_only, 0.0, boxes, border_margin_px, margin_px, None)

    # Distance [input px] from each fine pixel to the nearest excluded input pixel. A fine pixel is
    # excluded when its whole g x g area is at the shutter's level, so the last excluded input pixel
    # lies 0.5 to g - 0.5 px beyond the last excluded fine pixel's centre: g / 2 on average.
    # Interpolated bilinearly to the input's pixels, the field's edge is found to about a pixel.
    dist = cv2.distanceTransform((~core_fine).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5) * scale - 0.5 * scale
    valid = (cv2.resize(dist, (w, h), interpolation=cv2.INTER_LINEAR) > margin_px) & border_only
    return FieldOfView(valid, float(core_fine.mean()), boxes, border_margin_px, margin_px, dist)


def _border_regions(candidate: np.ndarray, min_region_fraction: float, level: np.ndarray | None = None,
                    max_spread: float = math.inf) -> np.ndarray:
    """The 8-connected regions of ``candidate`` blocks that touch the border, cover at least
    ``min_region_fraction`` of the grid and are at least three blocks thick somewhere (step 1);
    with ``level`` (the blocks' normalised means), only those whose levels span at most
    ``max_spread``."""
    ch, cw = candidate.shape
    if not candidate.any():
        return np.zeros((ch, cw), bool)
    blocks = candidate.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(blocks, connectivity=8)
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right = left + stats[:, cv2.CC_STAT_WIDTH]
    bottom = top + stats[:, cv2.CC_STAT_HEIGHT]
    touches = (left == 0) | (top == 0) | (right == cw) | (bottom == ch)
    big = stats[:, cv2.CC_STAT_AREA] >= min_region_fraction * cw * ch
    # At least three blocks thick somewhere: a catheter or a dark vessel clipped to black is not.
    thick = np.bincount(labels[cv2.erode(blocks, np.ones((3, 3), np.uint8)).astype(bool)], minlength=n) > 0
    keep = touches & big & thick
    if level is not None:
        spread = np.zeros(n)
        for k in np.flatnonzero(keep):
            low, high = np.percentile(level[labels == k], (2.0, 98.0))
            spread[k] = float(high - low)
        keep &= spread <= max_spread
    keep[0] = False
    return keep[labels]


def _border_mask(shape: tuple[int, int], border_margin_px: float) -> np.ndarray:
    h, w = shape
    b = int(math.floor(border_margin_px))  # pixel i is kept when min(i + 1, n - i) > margin
    valid = np.zeros((h, w), bool)
    if 2 * b < h and 2 * b < w:
        valid[b:h - b, b:w - b] = True
    return valid


def _fill_enclosed(core: np.ndarray) -> np.ndarray:
    """Add to ``core`` every region of its complement but the largest (and those >= 1/4 of it)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~core).view(np.uint8), connectivity=4)
    if n <= 2:
        return core
    area = stats[:, cv2.CC_STAT_AREA].copy()
    area[0] = 0
    keep = area >= max(area.max() / 4.0, 1)
    keep[0] = False
    return ~keep[labels]


def _text_lines(source: np.ndarray, full: np.ndarray, coarse: np.ndarray, core: np.ndarray, lo: float, hi: float,
                tolerance: float, contrast: float = 0.2) -> tuple[tuple[int, int, int, int], ...]:
    """Bounding boxes of horizontal lines of >= 3 glyph-sized extreme components near the border.

    Components are only labelled (at full resolution) inside the few regions of coarse blocks that
    hold some glyph-level pixels on a background at least ``contrast`` of the range away from that
    level (bright noise in a lung field, black noise under the diaphragm are not text).
    """
    h, w = full.shape
    ch, cw = coarse.shape
    span = hi - lo
    coarse_norm = (coarse - lo) / span
    band = _TEXT_BAND * min(h, w)
    gmax = max(_GLYPH_MIN_PX + 2, int(round(_GLYPH_MAX_FRACTION * min(h, w))))
    by, bx = h / ch, w / cw  # input px per coarse block
    rows, cols = (np.arange(ch) + 0.5) * by, (np.arange(cw) + 0.5) * bx
    in_band = ((np.minimum(rows, h - rows) < band)[:, None] | (np.minimum(cols, w - cols) < band)[None, :])
    # Shutter edges have glyph-level pixels on a contrasting background too; text there is excluded anyway.
    in_band &= ~cv2.dilate(core.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    out: list[tuple[int, int, int, int]] = []
    for level, kind, cut in ((0.0, cv2.THRESH_BINARY_INV, lo + tolerance * span),
                             (1.0, cv2.THRESH_BINARY, hi - tolerance * span)):
        # OpenCV's SIMD threshold and area resize are much cheaper than numpy compares and a float
        # conversion; uint8 frames stay uint8 (0/255 marks).
        src = source if source.dtype == np.uint8 else full
        _, marks = cv2.threshold(src, cut, 255 if src.dtype == np.uint8 else 1.0, kind)
        frac = cv2.resize(marks, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32)
        if src.dtype == np.uint8:
            frac /= 255.0
        with np.errstate(invalid="ignore", divide="ignore"):
            background = (coarse_norm - frac * level) / (1.0 - frac)
        blocks = in_band & (frac >= 0.06) & (frac <= 0.9) & (np.abs(background - level) >= contrast)
        if np.count_nonzero(blocks) < 2:
            continue
        grown = cv2.dilate(blocks.view(np.uint8), np.ones((3, 7), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        # Three glyphs cover at least three blocks; fewer is a dot or a wire's tip.
        enough = np.bincount(labels[blocks], minlength=n) >= 3
        for k in np.flatnonzero(enough[1:]) + 1:
            x0 = int(stats[k, cv2.CC_STAT_LEFT] * bx)
            y0 = int(stats[k, cv2.CC_STAT_TOP] * by)
            x1 = min(w, int(math.ceil((stats[k, cv2.CC_STAT_LEFT] + stats[k, cv2.CC_STAT_WIDTH]) * bx)))
            y1 = min(h, int(math.ceil((stats[k, cv2.CC_STAT_TOP] + stats[k, cv2.CC_STAT_HEIGHT]) * by)))
            extreme = marks[y0:y1, x0:x1] > 0
            for box in _glyph_lines(extreme, gmax):
                bx0, by0, bx1, by1 = box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0
                if min(by0, h - by1, bx0, w - bx1) >= band:  # wholly away from the border
                    continue
                # The line's own background (its non-glyph pixels) must differ from the glyphs.
                patch = full[by0:by1, bx0:bx1][~extreme[box[1]:box[3], box[0]:box[2]]]
                if patch.size and abs((float(np.median(patch)) - lo) / span - level) >= contrast:
                    out.append((bx0, by0, bx1, by1))
    return tuple(out)


def _glyph_lines(extreme: np.ndarray, gmax: int) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of rows of >= 3 glyph-sized components of a binary patch."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(extreme.view(np.uint8), connectivity=8)
    s = stats[1:]
    bw, bh = s[:, cv2.CC_STAT_WIDTH], s[:, cv2.CC_STAT_HEIGHT]
    glyph = (bh >= _GLYPH_MIN_PX) & (bh <= gmax) & (bw <= gmax) & (s[:, cv2.CC_STAT_AREA] >= 4)
    g = s[glyph]
    if len(g) < 3 or len(g) > _MAX_GLYPHS:
        return []
    x0, y0 = g[:, cv2.CC_STAT_LEFT].astype(np.int64), g[:, cv2.CC_STAT_TOP].astype(np.int64)
    x1, y1 = x0 + g[:, cv2.CC_STAT_WIDTH], y0 + g[:, cv2.CC_STAT_HEIGHT]
    gh = y1 - y0
    # Same text line: rows overlap by half the smaller glyph, horizontal gap under one glyph height.
    overlap = np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None])
    gap = np.maximum(x0[:, None], x0[None]) - np.minimum(x1[:, None], x1[None])
    linked = (overlap >= 0.5 * np.minimum(gh[:, None], gh[None])) & (gap <= np.maximum(gh[:, None], gh[None]))
    group = _components(linked)
    out = []
    for label in np.unique(group):
        members = np.flatnonzero(group == label)
        if len(members) < 3:
            continue
        bx0, by0, bx1, by1 = x0[members].min(), y0[members].min(), x1[members].max(), y1[members].max()
        if bx1 - bx0 >= 2 * (by1 - by0):  # a line of text is wider than high
            out.append((int(bx0), int(by0), int(bx1), int(by1)))
    return out


def _components(linked: np.ndarray) -> np.ndarray:
    """Connected-component labels of a symmetric boolean adjacency matrix (union-find)."""
    n = len(linked)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked, 1))):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[ri] = rj
    return np.array([find(i) for i in range(n)])
