"""Real-media tests of sources and sinks: what a user checks after a passthrough render.

Frame counts, sizes, timestamps, GIF delays and loop count, audio codec and length, trimming,
picture fidelity, and the failure modes (bad input, refused output, aborted render).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import MEDIA, audio_facts

from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.engine.sinks import open_sink
from dreamreel.engine.sources import open_source
from dreamreel.errors import MediaError

GIF = MEDIA / "film" / "chaplin_3s.gif"
BBB_MP4 = MEDIA / "audio" / "bbb_14s-19s_h264_aac.mp4"
BBB_WEBM = MEDIA / "audio" / "big_buck_bunny_432_433.webm"
COCKATOO = MEDIA / "color" / "cockatoo.mp4"
COFFEE = MEDIA / "content" / "coffee.png"

pytestmark = pytest.mark.skipif(
    not MEDIA.is_dir(), reason=f"test media folder {MEDIA} is missing (see shared/media/SOURCES.md)"
)


def passthrough(src: Path | str, out: Path, **sink_args: object) -> MediaInfo:
    """Decode `src` and write every frame unchanged to `out`, with the source's audio."""
    with open_source(src) as source:
        audio = source.info if source.info.has_audio else None
        sink_args.setdefault("preset", "ultrafast")
        with open_sink(out, source.info, audio_from=audio, **sink_args) as sink:
            for frame in source:
                sink.write(frame)
        return source.info


def probe(path: Path) -> dict[str, object]:
    """What ffprobe would tell a user: frame times, durations, sizes, audio codec and length."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = list(container.decode(video))
        result: dict[str, object] = {
            "times": [float(f.pts * f.time_base) for f in frames],
            "durations": [f.duration for f in frames],
            "size": (frames[0].width, frames[0].height),
            "rotation": frames[0].rotation,
        }
    result.update(audio_facts(path))
    return result


def images(path: Path | str) -> list[np.ndarray]:
    with open_source(path) as source:
        return [frame.image for frame in source]


def test_gif_passthrough_keeps_frames_delays_and_loop(tmp_path: Path) -> None:
    out = tmp_path / "out.gif"
    info = passthrough(GIF, out)
    assert (info.kind, info.width, info.height, info.loop) == ("gif", 320, 232, 0)
    source, result = probe(GIF), probe(out)
    assert len(result["times"]) == 36
    assert result["size"] == (320, 232)
    assert result["times"] == source["times"]
    assert result["durations"] == source["durations"]  # per-frame delays, last one included
    assert open_source(out).info.loop == 0
    # a 64-colour GIF fits a per-frame palette exactly
    assert (
        np.mean(
            [
                np.abs(a.astype(int) - b).mean()
                for a, b in zip(images(GIF), images(out), strict=True)
            ]
        )
        < 1
    )


def test_gif_loop_count_and_play_once_are_kept(tmp_path: Path) -> None:
    with open_source(GIF) as source:
        frames = list(source)
        for loop in (3, None):
            info = replace(source.info, loop=loop)
            with open_sink(tmp_path / f"loop{loop}.gif", info, gif_dither=False) as sink:
                for frame in frames[:4]:
                    sink.write(frame)
            assert open_source(tmp_path / f"loop{loop}.gif").info.loop == loop


def test_mp4_passthrough_keeps_frames_timestamps_and_audio(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    info = passthrough(BBB_MP4, out, crf=18)
    assert (info.frame_count, info.audio_codec) == (120, "aac")
    source, result = probe(BBB_MP4), probe(out)
    assert result["size"] == (1280, 720)
    assert result["times"] == pytest.approx(source["times"], abs=1e-6)
    assert result["audio_codec"] == "aac"
    assert result["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=1 / 24)
    diff = [
        np.abs(a.astype(int) - b).mean() for a, b in zip(images(BBB_MP4), images(out), strict=True)
    ]
    assert np.mean(diff) < 3


def test_yuv444_source_keeps_size_timestamps_and_mp3_audio(tmp_path: Path) -> None:
    out = tmp_path / "cockatoo.mkv"
    with open_source(COCKATOO, duration=2.0) as source:
        assert source.info.audio_codec == "mp3"
        with open_sink(
            out, source.info, audio_from=source.info, duration=2.0, preset="ultrafast"
        ) as sink:
            for frame in source:
                sink.write(frame)
        assert source.lost_frames == 0
    result = probe(out)
    assert result["size"] == (1280, 720)
    assert result["times"] == pytest.approx([i / 20 for i in range(40)], abs=1e-3)
    assert result["audio_codec"] == "mp3"  # mkv takes mp3 as it is
    assert result["audio_seconds"] == pytest.approx(2.0, abs=0.1)  # 72 ms mp3 packets


def test_colour_survives_4_2_0_as_a_player_shows_it(tmp_path: Path) -> None:
    """The cockatoo's full-colour (4:4:4) frames through a lossless 4:2:0 H.264 file and back:
    the decoder interpolates the half-size chroma (FFmpeg's quick conversion repeats each
    sample over 2x2 pixels and rounds about a level dark), so what comes back is nearer the
    original, with no shift in brightness."""
    out = tmp_path / "cockatoo420.mp4"
    with open_source(COCKATOO, duration=0.5) as source:
        originals = []
        with open_sink(out, source.info, crf=0, preset="ultrafast") as sink:
            for frame in source:
                originals.append(frame.image.astype(np.float32))
                sink.write(frame)
    with open_source(out) as source:
        ours = [frame.image for frame in source]
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
        quick = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(ours) == len(quick) == len(originals) == 10

    def error(decoded: list[np.ndarray]) -> tuple[float, float]:
        """Mean |decoded - original| and mean decoded - original, in levels."""
        diffs = [d - o for d, o in zip(decoded, originals, strict=True)]
        return float(np.mean([np.abs(d).mean() for d in diffs])), float(np.mean(diffs))

    (ours_apart, ours_shift), (quick_apart, quick_shift) = error(ours), error(quick)
    assert abs(ours_shift) < 0.3 < abs(quick_shift)  # -0.05 and -1.06
    assert ours_apart < 0.6 * quick_apart, (ours_apart, quick_apart)  # 0.41 and 1.11 levels


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_full_chroma_keeps_colour_that_changes_from_pixel_to_pixel(tmp_path: Path,
                                                                   suffix: str) -> None:
    """A painted stroke's colour can change from one pixel to the next (here the cockatoo
    with red and blue swapped on every other column): 4:2:0 averages it over 2x2 pixels,
    `chroma="444"` keeps it, at the frame's own size, at CRF 0."""
    errors = {}
    for chroma in ("420", "444"):
        out = tmp_path / f"{chroma}{suffix}"
        originals = []
        with open_source(COCKATOO, duration=0.5) as source:
            with open_sink(out, source.info, crf=0, preset="ultrafast", chroma=chroma) as sink:
                for frame in source:
                    striped = frame.image.copy()
                    striped[:, ::2] = striped[:, ::2, ::-1]
                    originals.append(striped.astype(np.float32))
                    sink.write(replace(frame, image=striped))
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.pix_fmt == f"yuv{chroma}p"
        with open_source(out) as source:
            decoded = [frame.image for frame in source]
        assert len(decoded) == len(originals) == 10
        assert decoded[0].shape == (720, 1280, 3)
        errors[chroma] = float(np.mean([np.abs(d - o).mean()
                                        for d, o in zip(decoded, originals, strict=True)]))
    assert errors["444"] < 0.5 < 2.0 < errors["420"], errors  # 0.32 and 3.7 levels


def make_vfr_clip(path: Path, times_ms: list[int], width: int = 641, height: int = 481) -> None:
    """An odd-sized clip with irregular timestamps (1/1000 time base), written with PyAV."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, ms in enumerate(times_ms):
            image = np.zeros((height, width, 3), np.uint8)
            image[:, : (i + 1) * 60] = (200, 80, 30)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".gif"])
def test_odd_size_variable_frame_rate_is_exact(tmp_path: Path, suffix: str) -> None:
    times_ms = [0, 40, 70, 150, 160, 300, 310, 500]
    clip = tmp_path / "vfr.mp4"
    make_vfr_clip(clip, times_ms)
    with open_source(clip) as source:
        assert (source.info.width, source.info.height) == (641, 481)
        assert [f.pts for f in source] == pytest.approx([t / 1000 for t in times_ms])
    out = tmp_path / f"out{suffix}"
    passthrough(clip, out)
    result = probe(out)
    assert result["size"] == (641, 481)
    assert result["times"] == pytest.approx([t / 1000 for t in times_ms], abs=1e-3)


def test_rotation_is_carried_over(tmp_path: Path) -> None:
    clip = tmp_path / "rotated.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert open_source(clip).info.rotation == 90
    passthrough(clip, tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4")["rotation"] == 90
    passthrough(clip, tmp_path / "frames/")
    assert cv2.imread(str(tmp_path / "frames" / "frame_000000.png")).shape == (64, 32, 3)  # upright


def test_webm_in_webm_out_with_audio(tmp_path: Path) -> None:
    out = tmp_path / "out.webm"
    info = passthrough(BBB_WEBM, out)
    assert info.audio_codec == "vorbis"
    source, result = probe(BBB_WEBM), probe(out)
    assert len(result["times"]) == 24
    assert result["times"] == pytest.approx(source["times"], abs=1e-3)
    assert result["audio_codec"] == "vorbis"  # copied, not re-encoded
    assert result["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=1 / 24)


def test_audio_is_reencoded_when_the_container_refuses_it(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    passthrough(BBB_WEBM, out)  # Vorbis does not go into mp4: AAC
    result = probe(out)
    assert result["audio_codec"] == "aac"
    assert result["audio_seconds"] == pytest.approx(probe(BBB_WEBM)["audio_seconds"], abs=0.05)


def test_trim_start_and_duration_with_audio(tmp_path: Path) -> None:
    out = tmp_path / "trim.mp4"
    with open_source(BBB_MP4, start=1.0, duration=2.0) as source:
        assert source.info.frame_count == 48
        with open_sink(
            out, source.info, audio_from=source.info, start=1.0, duration=2.0, preset="ultrafast"
        ) as sink:
            for frame in source:
                sink.write(frame)
    result = probe(out)
    assert result["times"] == pytest.approx([i / 24 for i in range(48)], abs=1e-6)
    assert result["audio_seconds"] == pytest.approx(2.0, abs=1 / 24)
    with open_source(BBB_MP4) as full:
        expected = [f.image for f in full][24]
    assert np.abs(images(out)[0].astype(int) - expected).mean() < 3


def test_image_folder_glob_and_single_image(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    info = passthrough(GIF, Path(str(folder) + "/"))
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == "frame_000000.png" and len(names) == 36
    assert info.kind == "gif"
    with open_source(folder, fps=12) as source:
        frames = list(source)
        assert (source.info.kind, source.info.fps, len(frames)) == ("images", 12, 36)
        assert frames[12].pts == pytest.approx(1.0)
    assert np.array_equal(frames[5].image, images(GIF)[5])  # PNG is lossless
    # natural sort: frame_10 after frame_9
    for i in (1, 9, 10):
        shutil.copy(folder / f"frame_{i:06d}.png", tmp_path / f"f_{i}.png")
    with open_source(str(tmp_path / "f_*.png"), fps=10) as source:
        assert [f.image.tolist() for f in source] == [frames[i].image.tolist() for i in (1, 9, 10)]
    with open_source(COFFEE) as source:
        (still,) = list(source)
        assert (source.info.kind, still.image.shape) == ("image", (400, 600, 3))
        with open_sink(tmp_path / "coffee.png", source.info) as sink:
            sink.write(still)
    assert np.array_equal(images(tmp_path / "coffee.png")[0], still.image)


def test_bad_inputs_fail_up_front(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    with pytest.raises(MediaError, match="notes.mp4"):
        open_source(text)
    with pytest.raises(MediaError, match="no such file"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(MediaError, match="no video stream"):
        audio_only = tmp_path / "audio.m4a"
        with av.open(str(BBB_MP4)) as src, av.open(str(audio_only), "w") as dst:
            out = dst.add_stream_from_template(src.streams.audio[0])
            for packet in src.demux(src.streams.audio[0]):
                if packet.dts is not None:
                    packet.stream = out
                    dst.mux(packet)
        open_source(audio_only)
    with pytest.raises(MediaError, match="no decodable video frames"):
        list(open_source(BBB_MP4, start=30.0))


def test_truncated_files(tmp_path: Path) -> None:
    # index (moov) at the front: the first half decodes, the rest is counted as lost
    cut = tmp_path / "cut.mp4"
    data = BBB_MP4.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with open_source(cut) as source:
        frames = list(source)
    assert 10 < len(frames) < 120
    assert source.lost_frames == 120 - len(frames)
    # index at the end: nothing to decode from, refused up front
    cut_tail = tmp_path / "cut_tail.mp4"
    data = COCKATOO.read_bytes()
    cut_tail.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="cut_tail.mp4"):
        open_source(cut_tail)


def test_output_rules(tmp_path: Path) -> None:
    src = tmp_path / "in.gif"
    shutil.copy(GIF, src)
    info = open_source(src).info
    with pytest.raises(MediaError, match="overwrite the input"):
        open_sink(src, info, overwrite=True)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(MediaError, match="already exists"):
        open_sink(existing, info)
    with pytest.raises(MediaError, match="does not exist"):
        open_sink(tmp_path / "no" / "such" / "dir.mp4", info)
    with open_sink(existing, info, overwrite=True, preset="ultrafast") as sink:
        frame = next(iter(open_source(src)))
        sink.write(frame)
        with pytest.raises(MediaError, match="started at 320x232"):
            sink.write(Frame(np.zeros((10, 10, 3), np.uint8), 1, 0.1))
    assert existing.read_bytes() != b"keep me"


@pytest.mark.parametrize("name", ["aborted.mp4", "aborted.gif", "aborted/"])
def test_abort_and_interrupt(tmp_path: Path, name: str) -> None:
    with open_source(GIF) as source:
        frames = list(source)
        with pytest.raises(RuntimeError), open_sink(tmp_path / name, source.info) as sink:
            for frame in frames[:5]:
                sink.write(frame)
            raise RuntimeError("model crashed")
        assert list(tmp_path.iterdir()) == []  # no output, no temporary left behind
        with pytest.raises(KeyboardInterrupt), open_sink(tmp_path / name, source.info) as sink:
            for frame in frames[:5]:
                sink.write(frame)
            raise KeyboardInterrupt
    assert len(images(tmp_path / name)) == 5  # Ctrl-C keeps a playable file
    assert [p.name for p in tmp_path.iterdir()] == [name.rstrip("/")]
