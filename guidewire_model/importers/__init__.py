"""Hospital data into the data set layout (:mod:`guidewire_model.data.layout`): ``guidewire-import``.

Frames: :mod:`.dicom` (with :mod:`.dicom_pixels` and :mod:`.deidentify`), :mod:`.video`,
:mod:`.images`, each giving :class:`~.sources.FrameSource` objects that :mod:`.writer` writes.
Annotations: :mod:`.cvat`, :mod:`.coco`, :mod:`.labelme` parse into :mod:`.annotation` objects that
:mod:`.annotated` rasterises by the rules of :mod:`.wire_geometry`. :mod:`.staging` makes every
import all-or-nothing; :mod:`.errors` holds the one error type; :mod:`.cli` is the command;
:mod:`.discover` reads any input (file or folder, of any kind) for ``guidewire-segment``, and
:mod:`.cvat_export` writes the model's centrelines back as CVAT polylines (pre-labelling).
"""
