"""`dreamreel styles IMAGE -o sheet.png`: a contact sheet of the 26 built-in styles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from dreamreel.engine import compute, stages
from dreamreel.engine.graph import FrameGraph
from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.engine.sinks import open_sink
from dreamreel.errors import UsageError

COLUMNS = 7


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("styles", help="render all 26 built-in styles on one picture")
    parser.add_argument("image", type=Path, help="the picture to stylize")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the contact sheet (.png/.jpg)")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing contact sheet")
    parser.add_argument("--size", type=int, default=192, help="short side of each tile (default 192)")
    parser.add_argument("--offline", action="store_true", help="never download networks")
    parser.set_defaults(handler=styles)


def styles(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg") or args.output.is_dir():
        raise UsageError(f"{args.output}: the contact sheet must be a .png or .jpg file")
    if args.size < 16:
        raise UsageError("--size must be at least 16 pixels")
    image = stages.read_image(args.image)
    info = MediaInfo(path=args.image, kind="image", width=image.shape[1], height=image.shape[0])
    with open_sink(args.output, info, overwrite=args.overwrite) as sink:  # checks it, writes atomically
        sink.write(Frame(image=contact_sheet(image, args.size, args.offline), index=0, pts=0.0))
    print(f"{args.output}: the source, then styles 0..25", file=sys.stderr)
    return 0


def contact_sheet(image: np.ndarray, size: int, offline: bool) -> np.ndarray:
    """The picture at `size` (short side), then each of the 26 styles, 7 tiles a row."""
    h, w = compute.working_size(*image.shape[:2], size)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    device = compute.default_device()
    precision = compute.resolve_precision("auto", {"style"}, device)
    jit = compute.resolve_jit("auto", device)
    built = stages.build(stages.stages("style"), stages.context(precision, jit, offline=offline))
    graph = FrameGraph(built.graph, 1, h, w, jit=jit, device=device)
    tiles = [image]
    for index in range(26):
        mix = np.eye(26, dtype=np.float32)[index]
        tile = graph(image[np.newaxis], {"style_weights": mix})[0].copy()
        cv2.putText(tile, str(index), (6, 24), cv2.FONT_HERSHEY_DUPLEX, 0.8, (255, 255, 255), 2,
                    cv2.LINE_AA)
        tiles.append(tile)
    tiles += [np.zeros_like(image)] * (-len(tiles) % COLUMNS)
    rows = [np.concatenate(tiles[i : i + COLUMNS], axis=1) for i in range(0, len(tiles), COLUMNS)]
    return np.concatenate(rows, axis=0)
