"""A short film made from the real clips in ../shared/media, for the cluster's tests and
benchmarks: scenes from different clips (so it has scene cuts where we put them), keyframes
every `gop` frames, and the Big Buck Bunny clip's real AAC sound.

    python benchmarks/cluster_film.py OUT.mp4 [--scenes 24,24,24] [--gop 12]
"""

from __future__ import annotations

import argparse
import itertools
from fractions import Fraction
from pathlib import Path

import av
import cv2

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = ("film/chaplin_silent.mp4", "color/cockatoo_yuv420.mp4", "audio/bbb_14s-19s_h264_aac.mp4")


def make_film(out: Path, scenes: tuple[int, ...] = (24, 24, 24), size: tuple[int, int] = (160, 96),
              fps: int = 24, gop: int = 12, media: Path = MEDIA, clips: tuple[str, ...] = CLIPS
              ) -> Path:
    """Scene i is the first scenes[i] frames of clips[i % len(clips)] at `size` (w, h); no
    scene-cut keyframes (x264's scenecut off), so keyframes fall every `gop` frames only."""
    with av.open(str(out), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={
            "crf": "20", "preset": "veryfast", "g": str(gop), "keyint_min": str(gop),
            "sc_threshold": "0"})
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        audio_in = av.open(str(media / CLIPS[2]))
        audio = container.add_stream_from_template(audio_in.streams.audio[0])
        for number, count in enumerate(scenes):
            with av.open(str(media / clips[number % len(clips)])) as clip:
                for frame in itertools.islice(clip.decode(video=0), count):
                    image = cv2.resize(frame.to_ndarray(format="rgb24"), size,
                                       interpolation=cv2.INTER_AREA)
                    container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
        seconds = Fraction(sum(scenes), fps)
        for packet in audio_in.demux(audio_in.streams.audio[0]):
            if packet.size == 0 or packet.pts is None:
                continue
            if packet.pts * packet.time_base >= seconds:
                break
            packet.stream = audio
            container.mux(packet)
        audio_in.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scenes", default="24,24,24")
    parser.add_argument("--gop", type=int, default=12)
    args = parser.parse_args()
    make_film(args.out, tuple(int(n) for n in args.scenes.split(",")), gop=args.gop)


if __name__ == "__main__":
    main()
