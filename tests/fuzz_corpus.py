"""The fuzzer's corpus: small seeds cut from the real media, and mutants of them drawn from a
fixed seed, so a failing case is the same case on every run (the seeds are encoded bit-exact:
the same bytes wherever the project's PyAV runs).

Seeds are tiny on purpose (a few frames of video at 64 px, four GIF frames, thumbnails), so that
hundreds of mutants run through the real command in about a minute. Mutations are what a
damaged download, a bad disk or a careless rename make of a file: truncations, flipped bytes,
zeroed headers, runs of random bytes, and a file under another kind's extension.

Used by test_fuzz.py; `python tests/fuzz_corpus.py DIR` writes the corpus out to look at.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2

SEED = 20240607
# mutants of each seed in the test's corpus: about 330 cases, a minute on two cores
PER_SEED = {"chaplin.mp4": 40, "cockatoo.mp4": 30, "bunny.webm": 40, "chaplin.gif": 40,
            "cat.png": 25, "udnie.jpg": 25, "setlist.txt": 40, "map.json": 30, "map.toml": 30}
MUTATIONS = ("truncate", "flip", "zero_header", "random_run", "wrong_extension")

SETLIST = """# tonight's set
style
vintage@0.6,style   # the warm-up
faces@0.5,vintage
dream
"""
MIDI_JSON = """{"map": [
  {"cc": 21, "param": "strength", "min": 0.0, "max": 0.5},
  {"cc": 22, "param": "style"},
  {"note": 36, "param": "freeze"},
  {"note": 37, "param": "pipeline", "value": "vintage", "channel": 9}
]}
"""
MIDI_TOML = """[[map]]
cc = 21
param = "strength"
min = 0.0
max = 0.5

[[map]]
note = 38
param = "screenshot"
"""


@dataclass(frozen=True)
class Case:
    """One fuzz input: `data` saved as `name`, used as `role` (input, style_image, setlist,
    midi_map); `seed` and `mutation` say where it came from."""

    name: str
    role: str
    seed: str
    mutation: str
    data: bytes


def _cut_video(src: Path, dst: Path, frames: int, width: int, codec: str,
               audio: bool = False, options: dict[str, str] | None = None) -> None:
    """The first `frames` frames of `src` at `width` px wide, re-encoded with `codec`; with
    `audio`, the source's audio packets of the same span copied as they are."""
    bitexact = {"fflags": "+bitexact", **(options or {})}  # no random ids: the same bytes each time
    with av.open(str(src)) as inp, av.open(str(dst), "w", options=bitexact) as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        height = round(vin.codec_context.height * width / vin.codec_context.width / 2) * 2
        vout = out.add_stream(codec, rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        vout.options = {"crf": "30"} if codec == "libx264" else {}
        aout = None
        if audio and inp.streams.audio:
            aout = out.add_stream_from_template(inp.streams.audio[0])
        for i, frame in enumerate(inp.decode(vin)):
            if i == frames:
                break
            small = frame.reformat(width=width, height=height, format="yuv420p")
            small.pts, small.time_base = i, Fraction(1) / rate
            for packet in vout.encode(small):
                out.mux(packet)
        for packet in vout.encode(None):
            out.mux(packet)
        if aout is not None:
            inp.seek(0)
            span = frames / rate
            for packet in inp.demux(inp.streams.audio[0]):
                if packet.dts is None or packet.pts is None:
                    continue
                if packet.pts * packet.time_base >= span:
                    break
                packet.stream = aout
                out.mux(packet)


def _cut_gif(src: Path, dst: Path, frames: int, width: int) -> None:
    """The first `frames` frames of a GIF at `width` px wide, keeping its delays."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        height = round(vin.codec_context.height * width / vin.codec_context.width)
        vout = out.add_stream("gif", rate=vin.average_rate or 10)
        vout.width, vout.height, vout.pix_fmt = width, height, "rgb8"
        for i, frame in enumerate(inp.decode(vin)):
            if i == frames:
                break
            small = frame.reformat(width=width, height=height, format="rgb8")
            small.pts, small.time_base = frame.pts, frame.time_base
            for packet in vout.encode(small):
                out.mux(packet)
        for packet in vout.encode(None):
            out.mux(packet)


def _thumbnail(src: Path, dst: Path, width: int) -> None:
    image = cv2.imread(str(src), cv2.IMREAD_COLOR)
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    assert cv2.imwrite(str(dst), small), dst


def make_seeds(media: Callable[[str], Path], folder: Path) -> dict[str, Path]:
    """The unmutated seeds, cut once from the real media into `folder`, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {name: folder / name for name in (
        "chaplin.mp4", "cockatoo.mp4", "bunny.webm", "chaplin.gif", "cat.png", "udnie.jpg",
        "setlist.txt", "map.json", "map.toml")}
    _cut_video(media("film/chaplin_silent.mp4"), seeds["chaplin.mp4"], 8, 64, "libx264")
    _cut_video(media("color/cockatoo_yuv420.mp4"), seeds["cockatoo.mp4"], 6, 64, "libx264",
               options={"movflags": "faststart"})  # the index first: a cut keeps what it holds
    _cut_video(media("audio/big_buck_bunny_432_433.webm"), seeds["bunny.webm"], 8, 64,
               "libvpx-vp9", audio=True)
    _cut_gif(media("film/chaplin_3s.gif"), seeds["chaplin.gif"], 4, 48)
    _thumbnail(media("content/chelsea_cat.png"), seeds["cat.png"], 48)
    _thumbnail(media("styles/picabia_udnie.jpg"), seeds["udnie.jpg"], 64)
    seeds["setlist.txt"].write_text(SETLIST)
    seeds["map.json"].write_text(MIDI_JSON)
    seeds["map.toml"].write_text(MIDI_TOML)
    return seeds


def mutate(data: bytes, mutation: str, rng: random.Random) -> bytes:
    """`data` damaged one way; `wrong_extension` leaves the bytes alone (the name changes)."""
    size = len(data)
    if mutation == "truncate":
        return data[: rng.randrange(size)]
    if mutation == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(size)] ^= 1 << rng.randrange(8)
        return bytes(out)
    if mutation == "zero_header":
        cut = min(size, rng.choice((4, 16, 64, 512)))
        return bytes(cut) + data[cut:]
    if mutation == "random_run":
        at, length = rng.randrange(size), rng.randint(1, 256)
        return data[:at] + rng.randbytes(length) + data[at + length :]
    if mutation == "wrong_extension":
        return data
    raise ValueError(f"unknown mutation {mutation}")


ROLES = {  # how each seed is used; a still picture is a clip of one frame, or the style
    ".mp4": ("input",), ".webm": ("input",), ".gif": ("input",), ".png": ("input",),
    ".jpg": ("input", "style_image"), ".txt": ("setlist",), ".json": ("midi_map",),
    ".toml": ("midi_map",),
}
WRONG = {  # what a careless rename calls a file of each role
    "input": (".mp4", ".webm", ".gif", ".png", ".jpg", ".mkv"),
    "style_image": (".png", ".jpg", ".gif"),
    "setlist": (".txt", ".json"),
    "midi_map": (".json", ".toml", ".txt"),
}


def corpus(seeds: dict[str, Path], per_seed: dict[str, int] = PER_SEED,
           seed: int = SEED) -> list[Case]:
    """`per_seed[name]` mutants of each seed (plus the seed itself), the same for a given
    `seed` on every machine."""
    rng = random.Random(seed)
    cases = []
    for name, path in seeds.items():
        data = path.read_bytes()
        stem, ext = path.name.replace(".", "_"), path.suffix
        for role in ROLES[ext]:
            cases.append(Case(f"{stem}-{role}-seed{ext}", role, name, "none", data))
            for i in range(per_seed.get(name, 0)):
                mutation = rng.choice(MUTATIONS)
                new_ext = ext
                if mutation == "wrong_extension":
                    new_ext = rng.choice([e for e in WRONG[role] if e != ext])
                mutant = mutate(data, mutation, rng)
                cases.append(Case(f"{stem}-{role}-{i:03d}-{mutation}{new_ext}", role, name,
                                  mutation, mutant))
    return cases


def main() -> None:
    """Write the test's corpus to a folder, to replay a case by hand."""
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import media

    folder = Path(sys.argv[1])
    seeds = make_seeds(media, folder / "seeds")
    for case in corpus(seeds):
        (folder / case.name).write_bytes(case.data)
    print(f"{folder}: {len(list(folder.iterdir())) - 1} cases")


if __name__ == "__main__":
    main()
