"""End-to-end rows (decode, graph, stabilise, encode, audio) and media io rows."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from dreamreel.engine.bench.measure import measure, peak_rss_mb, reset_peak_rss
from dreamreel.engine.bench.plan import STYLE_IMAGE, Plan, Row, pipeline_of


def scaled_clip(source: Path, width: int, height: int, seconds: float, dest: Path) -> Path:
    """The first `seconds` of `source` at width x height (H.264, audio copied as is), so both
    tools decode, process and encode exactly the frames of the row's size."""
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        video = inp.streams.video[0]
        audio = inp.streams.audio[0] if inp.streams.audio else None
        rate = video.average_rate or Fraction(25)
        enc = out.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "ultrafast"})
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        audio_out = out.add_stream_from_template(audio) if audio else None
        count = max(1, round(seconds * rate))
        index = 0
        for packet in inp.demux(*([video] + ([audio] if audio else []))):
            if packet.dts is None or packet.pts is None:
                continue
            if packet.stream is audio:
                if packet.pts * packet.time_base < seconds:
                    packet.stream = audio_out
                    out.mux(packet)
                continue
            for frame in packet.decode():
                if index < count:
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = index, 1 / rate
                    out.mux(enc.encode(scaled))
                    index += 1
        out.mux(enc.encode())
    return dest


def dreamreel_e2e(plan: Plan, pipeline: str, clip: Path, width: int, height: int,
                  workdir: Path) -> Row:
    """The real job in this process, as `dreamreel run --size SHORT_SIDE --one-way` runs it
    (the stabiliser as live video has it; `--two-way` is timed in RESULTS.md, "Two-way")."""
    from dreamreel.engine.job import RunSpec, stylize

    values = {"style": plan.style, "steps": plan.steps, "octaves": plan.octaves,
              "upsampling": plan.upsampling}
    if pipeline == STYLE_IMAGE:
        values["style_image"] = plan.style_image
    spec = RunSpec.make(clip, workdir / f"{pipeline}.mp4", pipeline_of(pipeline).name,
                        size=min(width, height), strength=plan.strength, overwrite=True,
                        two_way=False, device=plan.device, offline=plan.offline,
                        preserve_color=plan.preserve_color,
                        **{k: v for k, v in values.items() if k in _settings(pipeline)})
    reset_peak_rss()
    stats = stylize(spec)
    summary = stats.summary
    return Row("e2e", "dreamreel", pipeline, width, height, summary["batch"], summary["jit"],
               summary["precision"], stats.fps, stats.fps, stats.fps,
               peak_rss_mb=peak_rss_mb(), note=f"{stats.frames} frames", frames=stats.frames)


def _settings(pipeline: str) -> set[str]:
    from dreamreel.pipelines import settings

    return {e.name for e in settings.entries(pipeline_of(pipeline).settings)}


def io_rows(clip: Path, width: int, height: int, repeats: int, workdir: Path) -> list[Row]:
    """Decode, colour conversion and encode alone, as `dreamreel run` does them, in MB/s of
    frame bytes in + out (compressed bytes count on the compressed side)."""
    from dreamreel.engine.sinks import open_sink
    from dreamreel.engine.sources import open_source, rgb_image

    with av.open(str(clip)) as container:
        packed = sum(p.size for p in container.demux(video=0))

    def decode() -> list[av.VideoFrame]:
        with av.open(str(clip)) as container:
            return list(container.decode(video=0))

    frames = decode()
    count, yuv, rgb = len(frames), width * height * 3 // 2, width * height * 3
    with open_source(clip) as source:
        info, decoded = source.info, list(source)
    target = workdir / "encode.mp4"

    def encode() -> None:
        with open_sink(target, info, overwrite=True) as sink:
            for frame in decoded:
                sink.write(frame)

    timings = {
        "decode": (measure(decode, count, repeats), packed + count * yuv),
        "colour": (measure(lambda: [rgb_image(f) for f in frames], count,
                           repeats), count * (yuv + rgb)),
        "encode": (measure(encode, count, repeats), None),
    }
    rows = []
    for name, (s, moved) in timings.items():
        moved = moved if moved is not None else count * rgb + target.stat().st_size
        what = {"decode": "H.264 -> yuv420p", "colour": "yuv420p -> RGB",
                "encode": "RGB -> H.264 crf 18 medium"}[name]
        rows.append(Row("io", "dreamreel", name, width, height, 1, None, None, s.fps, s.fps_min,
                        s.fps_max, mb_per_s=moved / s.seconds / 1e6, peak_rss_mb=s.peak_rss_mb,
                        note=f"{what}, {count} frames a call"))
    return rows


