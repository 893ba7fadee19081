"""The one error every importer raises for bad input."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """An input file cannot be imported; the message names the file and what is wrong with it.

    Raised before anything reaches the output folder: the import writes into a staging folder that is
    removed when this is raised (:mod:`guidewire_model.importers.staging`).
    """
