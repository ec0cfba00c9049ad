"""`dreamreel styles IMAGE -o sheet.png`: a contact sheet of the 26 built-in styles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from dreamreel.engine import graph as graphs
from dreamreel.engine.effects import EffectOptions, build_effect, read_image
from dreamreel.engine.errors import UsageError

COLUMNS = 7


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("styles", help="render all 26 built-in styles on one picture")
    parser.add_argument("image", type=Path, help="the picture to stylize")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the contact sheet (.png/.jpg)")
    parser.add_argument("--size", type=int, default=192, help="short side of each tile (default 192)")
    parser.add_argument("--offline", action="store_true", help="never download networks")
    parser.set_defaults(handler=styles)


def styles(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError("the contact sheet must be a .png or .jpg")
    image = read_image(args.image)
    h, w = graphs.working_size(*image.shape[:2], args.size)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    effect = build_effect(EffectOptions(style="0", offline=args.offline))
    device = graphs.default_device()
    graph = graphs.FrameGraph(effect, 1, h, w, h, w, jit=graphs.resolve_jit("auto", device),
                              device=device)
    tiles = [image]
    for index in range(26):
        mix = np.eye(26, dtype=np.float32)[index]
        tile = graph(image[np.newaxis], {"style_weights": mix})[0].copy()
        cv2.putText(tile, str(index), (6, 24), cv2.FONT_HERSHEY_DUPLEX, 0.8, (255, 255, 255), 2,
                    cv2.LINE_AA)
        tiles.append(tile)
    tiles += [np.zeros_like(image)] * (-len(tiles) % COLUMNS)
    rows = [np.concatenate(tiles[i : i + COLUMNS], axis=1) for i in range(0, len(tiles), COLUMNS)]
    sheet = np.concatenate(rows, axis=0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.output), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise UsageError(f"{args.output}: could not write the contact sheet")
    print(f"{args.output}: the source, then styles 0..25", file=sys.stderr)
    return 0
