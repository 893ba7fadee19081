"""Pixel-level precision, recall and F1 as in the paper's tables.

Counts are *accumulated over all pixels of all frames* of a test set and the scores computed once
from the totals (a micro average), not averaged per frame: frames with little wire would otherwise
weigh as much as frames with a lot.

Zero-division conventions (chosen so that "predict nothing where there is nothing" is perfect and
any mistake scores 0):

* precision = tp / (tp + fp), and **1.0** when nothing is predicted positive (no false claims);
* recall    = tp / (tp + fn), and **1.0** when the ground truth has no positive pixel (nothing missed);
* F1        = 2 tp / (2 tp + fp + fn) (the harmonic mean of the two above wherever it is defined),
  and **1.0** when tp = fp = fn = 0. An empty prediction of a non-empty mask therefore has
  precision 1, recall 0, F1 0.

Tolerance scores (:class:`ToleranceCounts`, F1@d) forgive the one- or two-pixel offsets of thin
annotations drawn by hand, as the thin-structure literature scores them: with ``d = 2`` px,
precision is the share of predicted pixels within ``d`` of a true wire pixel and recall the share of
the true wire's *skeleton* pixels within ``d`` of a predicted pixel (the skeleton, so that a wire
drawn 4 px wide is not missed for lack of a 4 px wide prediction). They are micro averages too.
:func:`accuracy_counts` computes both for a frame; every report adds :class:`AccuracyCounts` up.

Naming in every report (``guidewire-eval``, ``guidewire-sweep``, the bag evaluation, the demos, the
centreline benchmark): the strict scores keep their keys (``tp``, ``fp``, ``fn``, ``tn``,
``precision``, ``recall``, ``f1``, or the report's own prefix of them such as ``pixel_f1``), and the
tolerance figures sit beside them in a dict named ``tolerance`` (prefixed the same way, e.g.
``pixel_tolerance``) holding ``tolerance_px``, ``precision``, ``recall``, ``f1`` and the counts
``pred``, ``pred_near``, ``skeleton``, ``skeleton_hit`` (:meth:`AccuracyCounts.to_dict`); a
per-frame value is ``tolerance: {"f1": ...}``. Tables and printed lines label them P@2, R@2, F1@2.

Everything here is plain numpy (and OpenCV / scikit-image for distances and skeletons); :meth:`PixelCounts.as_array` / :meth:`ThresholdSweep.as_array`
give int64 arrays to sum across ranks (``torch.distributed.all_reduce``) and ``from_array`` reads
the sum back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterable

import cv2
import numpy as np

__all__ = [
    "TOLERANCE_PX",
    "AccuracyCounts",
    "PixelCounts",
    "ThresholdSweep",
    "ToleranceCounts",
    "accuracy_counts",
    "count_near",
    "distance_to",
    "per_sequence",
    "pixel_counts",
    "tolerance_counts",
]

#: The distance (px) within which a predicted and a true wire pixel count as matching in F1@d.
TOLERANCE_PX = 2.0


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


class _Counts:
    """Non-negative integer counts (the dataclass fields of a subclass), summed with ``+`` and
    flattened to int64 in field order (to all-reduce across ranks, and back with ``from_array``)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if int(value) != value or value < 0:
                raise ValueError(f"{type(self).__name__}.{f.name} must be a non-negative integer, got {value!r}")
            object.__setattr__(self, f.name, int(value))

    def __add__(self, other: "_Counts") -> "_Counts":
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(*(a + b for a, b in zip(self.as_array().tolist(), other.as_array().tolist())))

    def as_array(self) -> np.ndarray:
        """The counts in field order as int64, e.g. to all-reduce across ranks."""
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.int64)

    @classmethod
    def from_array(cls, array: np.ndarray):
        """Inverse of :meth:`as_array` (any integer-valued array-like of one value per field)."""
        names = [f.name for f in fields(cls)]
        values = np.asarray(array).reshape(-1)
        if values.shape != (len(names),):
            raise ValueError(f"expected {len(names)} values [{', '.join(names)}], got shape {np.shape(array)}")
        return cls(*(int(v) for v in values))

    def to_dict(self) -> dict[str, float]:
        """Counts and scores, for logs and JSON reports."""
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**counts, "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class PixelCounts(_Counts):
    """Confusion counts of binary pixel labels; add them up with ``+``.

    Attributes
    ----------
    tp, fp, fn, tn : int
        True/false positives and negatives (guidewire = positive).
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def total(self) -> int:
        """Number of pixels counted."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was predicted positive."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when the ground truth has no positive pixel."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2 tp / (2 tp + fp + fn); 1.0 when tp = fp = fn = 0."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)



def _as_bool(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.integer) and array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must be bool or integers in {{0, 1}}, got values in [{array.min()}, {array.max()}]")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a bool or 0/1 integer array, got dtype {array.dtype}")
    return array.astype(bool)


def pixel_counts(pred: np.ndarray, gt: np.ndarray) -> PixelCounts:
    """Count tp/fp/fn/tn of a binary prediction against the ground truth.

    Parameters
    ----------
    pred, gt : ndarray, same shape, bool (or integer 0/1)
        Predicted and true guidewire masks; any shape (one frame or a stack).

    Raises
    ------
    ValueError
        If the shapes differ or an array is not binary.
    """
    pred = _as_bool(pred, "pred")
    gt = _as_bool(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {pred.shape} differs from gt shape {gt.shape}")
    tp = int(np.count_nonzero(pred & gt))
    n_pred = int(np.count_nonzero(pred))
    n_gt = int(np.count_nonzero(gt))
    fp = n_pred - tp
    fn = n_gt - tp
    return PixelCounts(tp, fp, fn, pred.size - tp - fp - fn)


@dataclass(frozen=True)
class ToleranceCounts(_Counts):
    """Counts behind precision, recall and F1 within a distance tolerance; add them up with ``+``.

    Attributes
    ----------
    pred : int
        Predicted wire pixels.
    pred_near : int
        Of those, the ones within the tolerance of a true wire pixel.
    skeleton : int
        Pixels of the true wire's skeleton.
    skeleton_hit : int
        Of those, the ones within the tolerance of a predicted pixel.
    """

    pred: int = 0
    pred_near: int = 0
    skeleton: int = 0
    skeleton_hit: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pred_near > self.pred or self.skeleton_hit > self.skeleton:
            raise ValueError(f"ToleranceCounts: a matched count exceeds its total ({self})")

    @property
    def precision(self) -> float:
        """pred_near / pred; 1.0 when nothing was predicted."""
        return _ratio(self.pred_near, self.pred)

    @property
    def recall(self) -> float:
        """skeleton_hit / skeleton; 1.0 when there is no true wire."""
        return _ratio(self.skeleton_hit, self.skeleton)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0.0 when both are 0."""
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) of every pixel to the nearest ``True`` pixel of a 2-D mask; inf if none."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _near(pixels: np.ndarray, target: np.ndarray, tolerance_px: float) -> int:
    """How many ``True`` pixels of a 2-D bool ``pixels`` lie within ``tolerance_px`` of ``target``."""
    if not pixels.any():
        return 0
    return int(np.count_nonzero(distance_to(target)[pixels] <= tolerance_px))


def count_near(pixels: np.ndarray, target: np.ndarray, tolerance_px: float) -> tuple[int, int]:
    """Count the pixels of one mask that lie within a distance of another (one frame).

    Parameters
    ----------
    pixels, target : ndarray, (H, W), bool (or integer 0/1)
        E.g. a predicted wire mask and an annotation the prediction should avoid (a catheter).
    tolerance_px : float
        Largest Euclidean distance (px) at which a pixel counts as near; 0 = on ``target``.

    Returns
    -------
    (n, near) : tuple of int
        ``True`` pixels of ``pixels``, and those within ``tolerance_px`` of a ``True`` pixel of
        ``target`` (none when ``target`` is empty).

    Raises
    ------
    ValueError
        If the shapes differ, are not 2-D, an array is not binary, or the tolerance is negative.

    Examples
    --------
    >>> target = np.zeros((5, 5), bool); target[2, 2] = True
    >>> pixels = np.zeros_like(target); pixels[2, 3] = pixels[0, 0] = True
    >>> count_near(pixels, target, 1.0)
    (2, 1)
    """
    pixels = _as_bool(pixels, "pixels")
    target = _as_bool(target, "target")
    if pixels.shape != target.shape or pixels.ndim != 2:
        raise ValueError(f"pixels and target must be 2-D masks of one shape, got {pixels.shape} and {target.shape}")
    if not tolerance_px >= 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    return int(np.count_nonzero(pixels)), _near(pixels, target, tolerance_px)


def tolerance_counts(pred: np.ndarray, gt: np.ndarray, tolerance_px: float = TOLERANCE_PX) -> ToleranceCounts:
    """Match a predicted wire mask to the true one within ``tolerance_px``.

    Parameters
    ----------
    pred, gt : ndarray, same shape, bool (or integer 0/1)
        Predicted and true guidewire masks, one frame ``(H, W)`` or a stack ``(..., H, W)``
        (each frame is matched on its own).
    tolerance_px : float
        Largest Euclidean distance at which two pixels match; 0 matches only identical positions.

    Returns
    -------
    ToleranceCounts
        Summed over the frames. ``precision`` = share of predicted pixels within ``tolerance_px``
        of a true pixel; ``recall`` = share of the skeleton of ``gt`` (scikit-image's
        ``skeletonize``) within ``tolerance_px`` of a predicted pixel.

    Raises
    ------
    ValueError
        If the shapes differ, an array is not binary or has fewer than two dimensions, or the
        tolerance is negative.

    Examples
    --------
    >>> gt = np.zeros((9, 9), bool); gt[4, 1:8] = True
    >>> pred = np.zeros_like(gt); pred[6, 1:8] = True    # the same line two rows lower
    >>> tolerance_counts(pred, gt).f1, tolerance_counts(pred, gt, 1.0).f1
    (1.0, 0.0)
    """
    from skimage.morphology import skeletonize

    pred = _as_bool(pred, "pred")
    gt = _as_bool(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {pred.shape} differs from gt shape {gt.shape}")
    if pred.ndim < 2:
        raise ValueError(f"masks must have at least two dimensions (H, W), got shape {pred.shape}")
    if not tolerance_px >= 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    total = ToleranceCounts()
    for p, g in zip(pred.reshape(-1, *pred.shape[-2:]), gt.reshape(-1, *gt.shape[-2:])):
        skeleton = skeletonize(g) if g.any() else g
        total = total + ToleranceCounts(int(np.count_nonzero(p)), _near(p, g, tolerance_px),
                                        int(np.count_nonzero(skeleton)), _near(skeleton, p, tolerance_px))
    return total


@dataclass(frozen=True)
class AccuracyCounts:
    """Strict pixel counts and tolerance counts of the same frames; add them up with ``+``.

    One object per frame (from :func:`accuracy_counts`) and one sum per report, so the strict and
    the tolerance figures of a report always cover the same frames.

    Attributes
    ----------
    pixel : PixelCounts
        Strict pixel-by-pixel counts.
    tolerance : ToleranceCounts
        Counts within ``tolerance_px``.
    tolerance_px : float
        The tolerance behind ``tolerance``; only sums of equal tolerances are allowed.
    """

    pixel: PixelCounts = field(default_factory=PixelCounts)
    tolerance: ToleranceCounts = field(default_factory=ToleranceCounts)
    tolerance_px: float = TOLERANCE_PX

    def __add__(self, other: AccuracyCounts) -> AccuracyCounts:
        if not isinstance(other, AccuracyCounts):
            return NotImplemented
        if other.tolerance_px != self.tolerance_px:
            raise ValueError(f"cannot add counts at tolerances {self.tolerance_px} and {other.tolerance_px} px")
        return AccuracyCounts(self.pixel + other.pixel, self.tolerance + other.tolerance, self.tolerance_px)

    def tolerance_dict(self) -> dict[str, float]:
        """The ``tolerance`` entry of reports: ``tolerance_px``, the counts, precision, recall, f1."""
        return {"tolerance_px": self.tolerance_px, **self.tolerance.to_dict()}

    def to_dict(self) -> dict[str, object]:
        """Strict counts and scores (:meth:`PixelCounts.to_dict`) plus ``tolerance``
        (:meth:`tolerance_dict`), for logs and JSON reports."""
        return {**self.pixel.to_dict(), "tolerance": self.tolerance_dict()}


def accuracy_counts(pred: np.ndarray, gt: np.ndarray, tolerance_px: float = TOLERANCE_PX) -> AccuracyCounts:
    """Strict and tolerance counts of a prediction, the one call every report makes per frame.

    Parameters
    ----------
    pred, gt : ndarray, same shape, bool (or integer 0/1)
        Predicted and true guidewire masks, ``(H, W)`` or a stack ``(..., H, W)``.
    tolerance_px : float
        See :func:`tolerance_counts`.

    Returns
    -------
    AccuracyCounts
        :func:`pixel_counts` and :func:`tolerance_counts` of the same masks.

    Raises
    ------
    ValueError
        As :func:`pixel_counts` and :func:`tolerance_counts`.
    """
    return AccuracyCounts(pixel_counts(pred, gt), tolerance_counts(pred, gt, tolerance_px), float(tolerance_px))


def per_sequence(items: Iterable[tuple[str, PixelCounts]]) -> dict[str, PixelCounts]:
    """Sum ``(sequence_name, counts)`` pairs per sequence, in order of first appearance."""
    out: dict[str, PixelCounts] = {}
    for name, counts in items:
        out[name] = out.get(name, PixelCounts()) + counts
    return out


class ThresholdSweep:
    """Precision/recall/F1 at every threshold ``k / n_bins`` from one pass over the data.

    Each :meth:`update` adds the probabilities of foreground and background pixels to two
    histograms of ``n_bins`` equal bins on [0, 1]; bin ``k`` holds ``k/n <= p < (k+1)/n`` (the last
    bin also holds p = 1). At threshold ``t_k = k / n_bins`` a pixel is positive when
    ``p >= t_k`` (as :func:`guidewire_model.runtime.preprocess.binarize`), so the counts at ``t_k`` are exact.

    Parameters
    ----------
    n_bins : int
        Number of bins, >= 2; thresholds are ``0, 1/n, ..., (n-1)/n``.
    """

    def __init__(self, n_bins: int = 1000) -> None:
        if int(n_bins) != n_bins or n_bins < 2:
            raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
        self.n_bins = int(n_bins)
        # Bin edges in float64: comparing a probability to them is exact, so the histogram agrees
        # with direct thresholding at every edge.
        self._edges = np.arange(self.n_bins, dtype=np.float64) / self.n_bins
        self._hist = np.zeros((2, self.n_bins), dtype=np.int64)  # row 0 foreground, row 1 background

    @property
    def thresholds(self) -> np.ndarray:
        """The ``n_bins`` thresholds ``k / n_bins``, float64."""
        return self._edges.copy()

    def update(self, prob: np.ndarray, gt: np.ndarray) -> None:
        """Add one frame (or a batch) of probabilities and ground truth.

        Parameters
        ----------
        prob : ndarray, float, values in [0, 1]
            Predicted guidewire probabilities.
        gt : ndarray, same shape, bool or integer 0/1

        Raises
        ------
        ValueError
            If shapes differ, ``gt`` is not binary or ``prob`` has values outside [0, 1] or NaN.
        """
        prob = np.asarray(prob)
        gt = _as_bool(gt, "gt")
        if prob.shape != gt.shape:
            raise ValueError(f"prob shape {prob.shape} differs from gt shape {gt.shape}")
        if prob.size == 0:
            return
        lo, hi = float(prob.min()), float(prob.max())
        if not (0.0 <= lo and hi <= 1.0):  # also rejects NaN
            raise ValueError(f"prob must lie in [0, 1] (apply the sigmoid first), got range [{lo}, {hi}]")
        bins = np.searchsorted(self._edges, prob.astype(np.float64, copy=False).ravel(), side="right") - 1
        gt_flat = gt.ravel()
        self._hist[0] += np.bincount(bins[gt_flat], minlength=self.n_bins)
        self._hist[1] += np.bincount(bins[~gt_flat], minlength=self.n_bins)

    def merge(self, other: ThresholdSweep) -> ThresholdSweep:
        """Add ``other``'s histograms into this sweep (in place) and return ``self``."""
        if other.n_bins != self.n_bins:
            raise ValueError(f"cannot merge sweeps with {other.n_bins} and {self.n_bins} bins")
        self._hist += other._hist
        return self

    def as_array(self) -> np.ndarray:
        """Histograms as an int64 array of shape (2, n_bins): foreground row, background row."""
        return self._hist.copy()

    @classmethod
    def from_array(cls, array: np.ndarray) -> ThresholdSweep:
        """Inverse of :meth:`as_array` (e.g. after summing the arrays of all ranks)."""
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[0] != 2:
            raise ValueError(f"expected shape (2, n_bins), got {array.shape}")
        if (array < 0).any():
            raise ValueError("histogram counts must be non-negative")
        sweep = cls(array.shape[1])
        sweep._hist[:] = array.astype(np.int64)
        return sweep

    def _counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        fg, bg = self._hist
        # Pixels at or above threshold k are those in bins k..n-1: a reversed cumulative sum.
        tp = np.cumsum(fg[::-1])[::-1]
        fp = np.cumsum(bg[::-1])[::-1]
        return tp, fp, fg.sum() - tp, bg.sum() - fp

    def counts_at(self, threshold: float) -> PixelCounts:
        """Counts at ``threshold``; exact on the grid ``k / n_bins``, otherwise at the next grid
        threshold above it."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        k = int(np.searchsorted(self._edges, threshold, side="left"))
        tp, fp, fn, tn = self._counts()
        if k >= self.n_bins:  # above the last edge only p = 1 counts; the bins cannot tell: be explicit
            raise ValueError(f"threshold {threshold} lies above the last grid threshold {self._edges[-1]}")
        return PixelCounts(int(tp[k]), int(fp[k]), int(fn[k]), int(tn[k]))

    def curve(self) -> dict[str, np.ndarray]:
        """Scores at every threshold, with the conventions of the module docstring.

        Returns
        -------
        dict
            ``thresholds``, ``precision``, ``recall``, ``f1``: float64 arrays of length ``n_bins``.
        """
        tp, fp, fn, _ = (c.astype(np.float64) for c in self._counts())

        def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
            return np.divide(num, den, out=np.ones_like(num), where=den > 0)

        return {
            "thresholds": self.thresholds,
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
        }

    def best(self) -> tuple[float, float]:
        """Threshold with the highest F1, and that F1.

        When several neighbouring thresholds tie, the middle of the first tied run is returned: it
        sits furthest from both ends of the plateau, so it is the least sensitive choice.
        """
        f1 = self.curve()["f1"]
        top = f1.max()
        first = int(np.argmax(f1))
        last = first
        while last + 1 < len(f1) and f1[last + 1] == top:
            last += 1
        k = (first + last) // 2
        return float(self._edges[k]), float(f1[k])
