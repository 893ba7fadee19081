"""Frangi vesselness: the classical, training-free reference row of ``guidewire-eval``.

The paper's Table III compares its network with other methods; a report that shows only the model
cannot say whether a figure is good. A Hessian ridge filter is the textbook way to find thin dark
curvilinear structures in X-ray without learning anything, so ``guidewire-eval`` scores it beside
the model, thresholded like the model (the best-F1 threshold on validation frames).

Guidewires absorb more X-rays than the tissue around them, so they are *dark* ridges
(``black_ridges=True``). The scales are 1 and 2 px in the frame's own pixels (a wire is 1.5-4 px
wide); the response is divided by its maximum over the frame, so every frame gives a map in
[0, 1] that a threshold sweep can treat like a probability map.

References
----------
.. [1] A. F. Frangi, W. J. Niessen, K. L. Vincken and M. A. Viergever, "Multiscale vessel
   enhancement filtering", MICCAI 1998, LNCS 1496, pp. 130-137.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from guidewire_model.runtime.preprocess import to_unit_float

__all__ = ["FRANGI_SIGMAS", "frangi_map", "frangi_maps"]

#: Gaussian scales of the Hessian [px of the frame]: thin (1 px) and wide (2 px) wires.
FRANGI_SIGMAS: tuple[float, ...] = (1.0, 2.0)


def frangi_map(image: np.ndarray, sigmas: Sequence[float] = FRANGI_SIGMAS, black_ridges: bool = True) -> np.ndarray:
    """Frangi vesselness of one frame, scaled to [0, 1] by its own maximum.

    Parameters
    ----------
    image : ndarray, (H, W), uint8, uint16 or float in [0, 1]
        Grayscale frame at its own resolution (converted with
        :func:`guidewire_model.runtime.preprocess.to_unit_float`).
    sigmas : sequence of float
        Scales of the filter [px]; default :data:`FRANGI_SIGMAS`.
    black_ridges : bool
        Look for dark ridges on a bright background (guidewires in X-ray), else bright ones.

    Returns
    -------
    ndarray, (H, W), float32 in [0, 1]
        ``skimage.filters.frangi`` divided by its maximum over the frame; all zeros where the frame
        has no ridge at all (a flat frame).

    Raises
    ------
    ValueError
        If ``image`` is not 2-D.
    TypeError
        If its dtype is not one :func:`~guidewire_model.runtime.preprocess.to_unit_float` accepts.

    Examples
    --------
    >>> image = np.full((21, 21), 200, np.uint8); image[10, 3:18] = 60   # a dark line
    >>> v = frangi_map(image)
    >>> float(v.max()), bool(v[10, 10] > 0.5), bool(v[3, 10] < 0.05)
    (1.0, True, True)
    """
    from skimage.filters import frangi

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grayscale frame, got shape {image.shape}")
    response = frangi(to_unit_float(image), sigmas=tuple(sigmas), black_ridges=black_ridges).astype(np.float32)
    peak = float(response.max()) if response.size else 0.0
    if not np.isfinite(peak) or peak <= 0.0:
        return np.zeros(image.shape, np.float32)
    return np.clip(response / peak, 0.0, 1.0)


def frangi_maps(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """:func:`frangi_map` of each frame with the default scales: the reference's "segment" step,
    shaped like :meth:`guidewire_model.runtime.pipeline.GuidewirePipeline.segment` (a batch in, maps out)."""
    return [frangi_map(image) for image in images]
