"""``guidewire-segment``: run the model on any frames -- images, folders, DICOM runs, videos.

Usage::

    guidewire-segment frame.png run.dcm clip.mp4 frames_folder/ --out out/seg
    guidewire-segment data/frames --out out/prelabel --export cvat       # pre-labelling for CVAT
    guidewire-segment run.dcm --model runs/hospital/best.pt --out out/seg  # another model (.onnx or .pt)

Inputs are read as :mod:`guidewire_model.importers.discover` describes (a DICOM series, a video, a
folder of frames, a data set of sequence folders are each one sequence; an image file is a sequence
of one frame). Each frame goes through the node's own pipeline,
:meth:`guidewire_model.runtime.pipeline.GuidewirePipeline.process` on a backend from
:func:`~guidewire_model.runtime.backends.create_backend` (field of view, threshold, centrelines, tracking):
wire ids are tracked within a sequence and the tracker is reset between sequences. The model is the
shipped ``models/default.onnx`` unless ``--model`` names another. What is written per sequence:
:mod:`guidewire_model.inference.segment_output`; with ``--export cvat`` also a CVAT task of the centrelines
(:mod:`guidewire_model.importers.cvat_export`). ``<out>/summary.json`` lists sequences, frames and
wires found. DICOM sequences are named by salted hashes, as ``guidewire-import dicom`` names them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from guidewire_model.data import layout
from guidewire_model.runtime.backends import KINDS, BackendError, create_backend
from guidewire_model.training.config import ConfigError
from guidewire_model.core.shipped_files import shipped_models_dir
from guidewire_model.importers.cvat_export import CvatExport
from guidewire_model.importers.deidentify import load_or_create_salt
from guidewire_model.importers.discover import discover_sources
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.sources import FrameSource
from guidewire_model.importers.writer import unique_names
from guidewire_model.runtime.model_info import CheckpointError, ModelFileError
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.inference.segment_output import SequenceOutput

__all__ = ["build_parser", "default_model_path", "main", "segment_sources"]

_MULTI_FRAME_SOURCES = ("video", "dicom")


def default_model_path() -> Path:
    """The shipped model, ``models/default.onnx`` (:func:`guidewire_model.core.shipped_files.shipped_models_dir`)."""
    return shipped_models_dir() / "default.onnx"


#: The errors that mean bad input or a bad model: reported in one line, exit code 2. A checkpoint
#: where PyTorch is missing is refused by :func:`~guidewire_model.runtime.backends.create_backend`
#: with a ``BackendError`` naming the file and both fixes (``pip install .[train]``, or export it to
#: ONNX); ``CheckpointError`` lives in the torch-free ``model_info``.
_MODEL_ERRORS = (InputError, ModelFileError, CheckpointError, BackendError, ConfigError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="guidewire-segment",
                                description="Segment guidewires in images, folders, DICOM runs and videos with the "
                                            "node's pipeline: masks, centrelines (JSON, CSV), overlays.",
                                epilog="examples:\n" + __doc__.split("\n\n")[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="image files (PNG, 16-bit PNG, JPEG, TIFF), DICOM files, videos, or folders of them")
    p.add_argument("--out", type=Path, required=True, help="output folder, one sub-folder per sequence")
    p.add_argument("--model", type=Path, help="model file, .onnx or a training checkpoint .pt "
                                              "(default: the shipped models/default.onnx)")
    p.add_argument("--backend", choices=KINDS, default="auto", help="inference runtime (default auto)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, help="CPU threads for inference (default: the backends' choice)")
    p.add_argument("--threshold", type=float, help="wire probability threshold (default: the model's own)")
    p.add_argument("--max-wires", type=int, default=2, help="wires traced per frame (default 2)")
    p.add_argument("--overlay", choices=("auto", "png", "mp4", "none"), default="auto",
                   help="overlay per frame as PNG, or per sequence as MP4 (auto: MP4 for videos and DICOM runs "
                        "of several frames, PNG otherwise)")
    p.add_argument("--export", choices=("cvat",), help="also write the centrelines as a CVAT for images 1.1 "
                                                       "task under <out>/cvat (pre-labelling)")
    p.add_argument("--salt-file", type=Path, help="de-identification salt for naming DICOM sequences (default: "
                                                  "the one guidewire-import dicom uses)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _overlay_kind(choice: str, source: FrameSource) -> str:
    if choice != "auto":
        return choice
    multi = source.meta.get("source") in _MULTI_FRAME_SOURCES and (source.n_frames or 2) > 1
    return "mp4" if multi else "png"


def segment_sources(sources: Sequence[FrameSource], pipeline: GuidewirePipeline, out: Path, overlay: str = "auto",
                    export: CvatExport | None = None, progress: bool = True) -> list[dict]:
    """Segment every source into ``out/<name>``; returns one summary dict per sequence.

    The pipeline's tracker is reset before each sequence, so wire ids never carry over between inputs.
    """
    summaries = []
    total = sum(s.n_frames or 0 for s in sources) or None
    with tqdm(total=total, unit="frame", desc="segment", disable=not progress) as bar:
        for source, name in zip(sources, unique_names([s.name for s in sources])):
            pipeline.reset()
            times = source.meta.get("frame_times_ms") or []
            wires_per_frame = []
            with SequenceOutput(out / name, _overlay_kind(overlay, source), source.fps) as writer:
                for index, image in enumerate(source.frames()):
                    result = pipeline.process(image)
                    writer.add(index, image, result, times[index] if index < len(times) else None)
                    wires_per_frame.append(len(result.wires))
                    if export is not None:
                        frame = source.frame_names[index] if source.frame_names else layout.frame_name(index)
                        export.add(f"{name}/{frame}", image, result.wires)
                    bar.update(1)
            if export is not None and source.meta:
                # The sequence's (de-identified) meta.json travels with the CVAT images, so a re-import
                # keeps the patient grouping.
                layout.write_meta(export.folder / "images" / name, source.meta)
            summaries.append({"sequence": name, "frames": writer.frames, "overlay": writer.overlay,
                              "frames_with_wires": sum(1 for n in wires_per_frame if n),
                              "wires_per_frame_mean": round(sum(wires_per_frame) / max(len(wires_per_frame), 1), 3)})
    return summaries


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must be in (0, 1), got {args.threshold}")
    if args.max_wires < 1:
        parser.error(f"--max-wires must be >= 1, got {args.max_wires}")
    try:
        model = args.model or default_model_path()
        sources = discover_sources(args.inputs, salt=lambda: load_or_create_salt(args.salt_file)[0])
        backend = create_backend(args.backend, model, device=args.device, threads=args.threads)
        pipeline = GuidewirePipeline(backend, threshold=args.threshold, max_wires=args.max_wires, track=True)
        export = CvatExport(args.out / "cvat") if args.export == "cvat" else None
        summaries = segment_sources(sources, pipeline, args.out, args.overlay, export, progress=not args.quiet)
        xml = export.write() if export is not None else None
    except _MODEL_ERRORS as exc:
        print(f"guidewire-segment: error: {exc}", file=sys.stderr)
        return 2
    summary = {"model": str(model), "backend": type(backend).__name__, "threshold": pipeline.threshold,
               "sequences": summaries}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    frames = sum(s["frames"] for s in summaries)
    print(f"segmented {frames} frames of {len(summaries)} sequences with {model} -> {args.out}")
    for s in summaries:
        print(f"  {s['sequence']}: {s['frames']} frames, wires in {s['frames_with_wires']}, overlay {s['overlay']}")
    if xml is not None:
        print(f"  CVAT task (pre-labels): {xml} and {xml.parent / 'images'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
