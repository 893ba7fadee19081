"""Image files read as stored, and the error every data reader raises: numpy and OpenCV, no torch.

:func:`read_image` is the one image-file reader of the package. The training data set
(:mod:`guidewire_model.training.dataset`), the plain frame folders (:mod:`guidewire_model.data.frame_folder`) and,
through them, ``guidewire-import`` and ``guidewire-segment`` use it. It lives apart from
:mod:`~guidewire_model.training.dataset`, which imports torch for its ``Dataset``, so that the import and
segmentation tools run where only the runtime (``pip install .[tools]``, no PyTorch) is installed.
:class:`DatasetError` lives here for the same reason: ``frame_folder.FolderError`` derives from it.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["DatasetError", "read_image"]


class DatasetError(ValueError):
    """The data set on disk does not follow the layout; the message names the file and the fix."""


def read_image(path: str | os.PathLike, error: type[DatasetError] = DatasetError,
               fix: str = "re-export the file") -> np.ndarray:
    """Read an image file as stored: any bit depth and channel count, nothing converted.

    Parameters
    ----------
    path : path-like
        An image file OpenCV decodes (PNG, TIFF, BMP, PGM, JPEG, ...).
    error : type of DatasetError
        The exception raised on failure, so each reader raises its own (e.g. ``FolderError``).
    fix : str
        What the user should do about a corrupt file; appended to the message.

    Returns
    -------
    ndarray
        ``(H, W)`` or ``(H, W, C)`` in the file's own dtype (uint8, uint16, ...); colour in BGR(A)
        order, as OpenCV stores it.

    Raises
    ------
    DatasetError
        Of type ``error``, naming the file: it cannot be read, is empty, or is not a decodable image.
    """
    # np.fromfile + imdecode instead of cv2.imread: handles non-ASCII paths and never returns a
    # silently empty image on a partial read.
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise error(f"{path}: cannot read the file ({exc})") from exc
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if image is None:
        raise error(f"{path}: corrupt or unreadable image; {fix}")
    return image
