"""``guidewire-import``: hospital data into the data set layout, one subcommand per source.

Usage::

    guidewire-import dicom RUNS/ --out data/frames                # XA/RF cine loops, one sequence per series
    guidewire-import video run1.mp4 run2.avi --out data/frames
    guidewire-import images folder1/ folder2/ --out data/frames
    guidewire-import cvat annotations.xml --images data/frames --out data/hospital
    guidewire-import coco instances.json --images imgs/ --out data/hospital
    guidewire-import labelme labelme_dir/ --out data/hospital

``dicom``, ``video`` and ``images`` write frames and ``meta.json`` (what annotators are given);
``cvat``, ``coco`` and ``labelme`` write complete training sequences (frames, masks, instances,
centrelines, exclude masks). Every subcommand writes all or nothing (a staging folder beside
``--out``, renamed into place at the end); a bad input stops it with a message naming the file and
the problem, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from guidewire_model.importers.annotated import LabelOptions, write_annotated
from guidewire_model.importers.deidentify import load_or_create_salt
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.staging import StagedOutput
from guidewire_model.importers.wire_geometry import CATHETER_WIDTH_PX, WIRE_WIDTH_PX
from guidewire_model.importers.writer import write_frame_sources

__all__ = ["build_parser", "main"]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True,
                   help="data set folder; created, or new sequence folders added to it (existing ones are never "
                        "overwritten)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_labels(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", type=Path, help="folder the image names are relative to (default: beside the "
                                               "annotation file; CVAT: its images/ folder if present)")
    p.add_argument("--wire-label", action="append", metavar="NAME",
                   help="label of guidewires (repeatable; default guidewire)")
    p.add_argument("--catheter-label", action="append", metavar="NAME",
                   help="label of catheters, kept apart in exclude/ and never guidewire (repeatable; default catheter)")
    p.add_argument("--wire-width", type=float, default=WIRE_WIDTH_PX,
                   help=f"width a wire polyline is drawn with in masks/ [px] (default {WIRE_WIDTH_PX:g})")
    p.add_argument("--catheter-width", type=float, default=CATHETER_WIDTH_PX,
                   help=f"width a catheter polyline is drawn with in exclude/ [px] (default {CATHETER_WIDTH_PX:g})")
    p.add_argument("--as-drawn", action="store_true",
                   help="take each wire's click order as proximal -> distal (default: the end nearer the catheter, "
                        "else nearer the image border, is proximal)")
    p.add_argument("--skip-empty", action="store_true",
                   help="leave out images without any wire shape (default: kept as frames with no wire)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="guidewire-import",
                                description="Hospital data into the data set layout (docs/dataset-layout.md), one "
                                            "subcommand per source; see docs/retraining.md.",
                                epilog="examples:\n" + "\n\n".join(__doc__.split("\n\n")[2:4]).replace("``", ""),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    d = sub.add_parser("dicom", help="DICOM X-ray runs (files or folders), de-identified")
    d.add_argument("inputs", nargs="+", type=Path, metavar="FILE_OR_DIR")
    salt = d.add_mutually_exclusive_group()
    salt.add_argument("--salt", help="secret mixed into the patient and series hashes (default: the salt file)")
    salt.add_argument("--salt-file", type=Path,
                      help="file holding the salt, created if missing (default: ~/.config/guidewire_seg/import_salt, "
                           "or under $XDG_CONFIG_HOME); keep it outside the data set and keep it secret")
    _add_common(d)
    v = sub.add_parser("video", help="video files (mp4, avi, ...), one sequence each")
    v.add_argument("inputs", nargs="+", type=Path, metavar="FILE")
    _add_common(v)
    i = sub.add_parser("images", help="folders of image files, one sequence each")
    i.add_argument("inputs", nargs="+", type=Path, metavar="DIR")
    _add_common(i)
    c = sub.add_parser("cvat", help="a CVAT for images 1.1 export (annotations.xml)")
    c.add_argument("inputs", nargs=1, type=Path, metavar="ANNOTATIONS_XML")
    c.add_argument("--id-attribute", default="wire_id", help="shape attribute holding the wire id (default wire_id)")
    _add_labels(c)
    _add_common(c)
    o = sub.add_parser("coco", help="a COCO JSON file (keypoint polylines or segmentation)")
    o.add_argument("inputs", nargs=1, type=Path, metavar="FILE")
    _add_labels(o)
    _add_common(o)
    m = sub.add_parser("labelme", help="a folder of labelme JSON files")
    m.add_argument("inputs", nargs=1, type=Path, metavar="DIR")
    _add_labels(m)
    _add_common(m)
    return p


def _label_options(args: argparse.Namespace) -> LabelOptions:
    return LabelOptions(wire_labels=tuple(args.wire_label or ("guidewire",)),
                        catheter_labels=tuple(args.catheter_label or ("catheter",)),
                        wire_width=args.wire_width, catheter_width=args.catheter_width,
                        as_drawn=args.as_drawn, skip_empty=args.skip_empty)


def _frames(args: argparse.Namespace, staged: StagedOutput) -> list[str]:
    """Frame sources of a dicom / video / images import, written to the staging folder; report lines."""
    notes = []
    if args.source == "dicom":
        from guidewire_model.importers.dicom import read_dicom

        if args.salt:
            salt = args.salt
            notes.append("patient and series hashed with the salt given by --salt")
        else:
            salt, where, created = load_or_create_salt(args.salt_file)
            notes.append(f"patient and series hashed with the salt in {where} ({'created now' if created else 'reused'}"
                         "; keep it secret and outside the data set, and use it for every import of this data set)")
        scan = read_dicom(args.inputs, salt)
        sources = scan.sources
        if scan.skipped:
            n = len(scan.skipped)
            notes.append(f"skipped {n} file{'s' if n != 1 else ''} in the folders given: not DICOM images "
                         f"(e.g. {scan.skipped[0][0].name}: {scan.skipped[0][1]})")
    elif args.source == "video":
        from guidewire_model.importers.video import read_video

        sources = [read_video(p) for p in args.inputs]
    else:
        from guidewire_model.importers.images import read_image_folder

        sources = [read_image_folder(p) for p in args.inputs]
    write_frame_sources(sources, staged.path, progress=not args.quiet)
    return notes


def _annotations(args: argparse.Namespace, staged: StagedOutput) -> list[str]:
    options = _label_options(args)
    path = args.inputs[0]
    if args.source == "cvat":
        from guidewire_model.importers.cvat import read_cvat

        images = read_cvat(path, args.images, id_attribute=args.id_attribute)
    elif args.source == "coco":
        from guidewire_model.importers.coco import read_coco

        labels = {s.lower() for s in options.wire_labels + options.catheter_labels}
        images = read_coco(path, args.images, labels=labels)
    else:
        from guidewire_model.importers.labelme import read_labelme

        images = read_labelme(path)
    summary = write_annotated(images, staged.path, options, path.name, progress=not args.quiet)
    notes = [f"{summary.wires} wires and {summary.catheters} catheter shapes drawn "
             f"(wire width {options.wire_width:g} px)"]
    if summary.ignored_labels:
        notes.append("ignored (not a wire or catheter label): "
                     + ", ".join(f"{k} x{n}" for k, n in sorted(summary.ignored_labels.items())))
    if summary.untraced:
        notes.append(f"{len(summary.untraced)} wire areas too small to trace a centreline (kept in the masks), "
                     f"e.g. {summary.untraced[0]}")
    if summary.skipped_empty:
        notes.append(f"{summary.skipped_empty} images without a wire shape left out (--skip-empty)")
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with StagedOutput(args.out) as staged:
            notes = (_frames if args.source in ("dicom", "video", "images") else _annotations)(args, staged)
            names = staged.commit()
    except InputError as exc:
        print(f"guidewire-import: error: {exc}", file=sys.stderr)
        print(f"guidewire-import: nothing was written to {args.out}", file=sys.stderr)
        return 2
    frames = sum(len(list((args.out / n / "frames").glob("*.png"))) for n in names)
    print(f"wrote {len(names)} sequences ({frames} frames) to {args.out}: {', '.join(names[:8])}"
          + (" ..." if len(names) > 8 else ""))
    for note in notes:
        print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
