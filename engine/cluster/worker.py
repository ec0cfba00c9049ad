"""What runs on the cluster's machines: the renderer actor.

A renderer finds scene cuts in a span of the film, and it holds its chain, with its networks and compiled graphs, for its whole life and
renders one chunk at a time into an encoded part; only packets come in and only encoded
bytes go out. Its TensorFlow and OpenCV threads match the cores Ray gave it, so workers
sharing a machine do not fight over them.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ray

from dreamreel.engine.cluster.packets import Codec, Packet, PacketSource
from dreamreel.engine.cluster.parts import part_suffix
from dreamreel.engine.cluster.plan import Chunk
from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.errors import MediaError


@dataclass(frozen=True)
class Part:
    """A rendered chunk: an encoded video segment, or its PNG frames in order."""

    chunk: int
    data: bytes | list[bytes]
    frames: int
    seconds: float
    worker: str  # host:pid
    node: str


def configure(cpus: int) -> None:
    """TensorFlow's and OpenCV's threads to `cpus`; GPU memory taken as needed, so that
    workers can share a GPU. Must run before TensorFlow does any work."""
    import cv2
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cpus)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, cpus))
    cv2.setNumThreads(cpus)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


@ray.remote(max_restarts=0, max_concurrency=2)  # one thread renders, one answers `progress`
class Renderer:
    def __init__(self, spec, info: MediaInfo, cpus: int) -> None:
        configure(cpus)
        self.spec, self.info = spec, info
        self.jobs: dict = {}
        self.done = 0  # frames of the current chunk written

    def choose(self):
        """How the job runs on this worker's hardware (the tuner's choice for the whole
        film); the driver gives every worker the same, so chunks agree wherever they run."""
        from dreamreel.engine import compute
        from dreamreel.engine.job import decide

        work = compute.working_size(self.info.height, self.info.width, self.spec.size)
        device = self.spec.device or compute.default_device()
        return decide(self.spec, work, device, self.info.frame_count)

    def progress(self) -> int:
        return self.done

    def cuts(self, codec: Codec, packets: list[Packet], frame_pts: list[int], lo: int,
             origin: int, work: tuple[int, int], flow_scale: float) -> list[int]:
        """The frames lo+1.. of `frame_pts` (frames lo.. of the film) where the stabiliser
        would see a scene cut, judged on what it sees (the frames at the working size)."""
        from dreamreel.engine.flow import hard_cut
        from dreamreel.engine.processing import Resize
        from dreamreel.engine.temporal import flow_gray

        shrink = Resize((self.info.height, self.info.width), work).shrink
        found, previous = [], None
        for frame in PacketSource(self.info, codec, packets, frame_pts, lo, origin):
            gray = flow_gray(shrink(frame.image), flow_scale)
            if previous is not None and hard_cut(previous, gray):
                found.append(frame.index)
            previous = gray
        return found

    def render(self, chunk: Chunk, codec: Codec, packets: list[Packet], frame_pts: list[int],
               origin: int, choice, folder: bool) -> Part:
        from dreamreel.engine.job import prepare
        from dreamreel.engine.runner import run_stream
        from dreamreel.engine.sinks import open_sink

        began = time.perf_counter()
        if choice not in self.jobs:
            self.jobs[choice] = prepare(self.spec, self.info, choice)
        processor, backward = self.jobs[choice].passes(first=chunk.warm)
        source = PacketSource(self.info, codec, packets, frame_pts, chunk.warm, origin)
        self.done = 0
        with tempfile.TemporaryDirectory(prefix="dreamreel-part-") as tmp:
            out = Path(tmp) / f"part{part_suffix(self.spec.output, folder)}"  # "part": a folder
            sink = open_sink(out, self.info, crf=self.spec.crf, preset=self.spec.preset,
                             chroma=self.spec.chroma)

            def write(frame: Frame) -> None:
                if chunk.lo <= frame.index < chunk.hi:  # warm-up and -down: rendered, not kept
                    sink.write(frame)
                    self.done += 1

            with sink:
                run_stream(source, processor.process, processor.batch, write,
                           processor.prepare, processor.finish, backward=backward)
            if sink.frames_written != chunk.frames:
                raise MediaError(f"chunk {chunk.number} (frames {chunk.lo}..{chunk.hi - 1}): "
                                 f"decoded {sink.frames_written} of its {chunk.frames} frames")
            data = ([f.read_bytes() for f in sorted(out.iterdir())] if folder
                    else out.read_bytes())
        return Part(chunk.number, data, sink.frames_written, time.perf_counter() - began,
                    f"{socket.gethostname()}:{os.getpid()}",
                    ray.get_runtime_context().get_node_id())
