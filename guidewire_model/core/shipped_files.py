"""Where the shipped files are: the YAML configs and the model files that come with the package.

Kept apart from :mod:`guidewire_model.training.config` (the training configuration) so that the runtime
(the node, ``guidewire-segment``) finds the shipped model without importing training code.
Standard library only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["ShippedFilesError", "config_dir", "shipped_models_dir"]


class ShippedFilesError(ValueError):
    """The shipped config folder cannot be found; the message lists where it was looked for."""


def config_dir() -> Path:
    """Folder holding the shipped YAML files.

    Looked up in order: ``$GUIDEWIRE_CONFIG_DIR``; ``config/`` beside the package in a source
    checkout; ``<prefix>/share/guidewire_seg/config`` as installed by pip or colcon, for
    ``sys.prefix`` and every prefix of ``$AMENT_PREFIX_PATH``.

    Raises
    ------
    ShippedFilesError
        If none of them holds the shipped configs; the message names the folders tried and the fix.
    """
    env = os.environ.get("GUIDEWIRE_CONFIG_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent / "config")
    candidates.append(Path(sys.prefix) / "share" / "guidewire_seg" / "config")
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / "guidewire_seg" / "config")
    for cand in candidates:
        if (cand / "train_paper.yaml").is_file():
            return cand
    raise ShippedFilesError(
        "cannot find the shipped config folder (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); set GUIDEWIRE_CONFIG_DIR to the repository's config/ folder"
    )


def shipped_models_dir() -> Path:
    """Folder of the shipped model files (``models/`` beside :func:`config_dir`)."""
    return config_dir().parent / "models"
