"""The streaming pipeline: decode -> batch -> graph -> stabilise -> encode, concurrently.

Three threads meet at bounded queues (backpressure keeps memory flat however long the input),
so throughput is set by the slowest stage rather than the sum of all. The graph runs on the
calling thread; TensorFlow, PyAV and OpenCV release the GIL while they work. On Ctrl-C (or
SIGTERM, SIGHUP) the reader stops, batches already computed are still written, and the sink
is finalised.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from dreamreel.engine import signals
from dreamreel.engine.media import Frame

if TYPE_CHECKING:
    from dreamreel.engine.two_way import BackwardPass

END = object()  # end-of-stream marker on every queue
QUEUE_BATCHES = 2


@dataclass
class RunStats:
    """What a run did: frames written, time taken, and (from `stylize`) what it ran with."""

    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False  # a signal (Ctrl-C, TERM, HUP): the `kept` frames are the output
    kept: int = 0
    # Busy seconds of each stage (they overlap: decoding with shrinking, the graph, and
    # finishing (stabiliser, enlarging) with encoding run on threads of their own).
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("decode", "graph", "finish", "encode"), 0.0))
    lost_frames: int = 0  # input frames that could not be decoded
    summary: dict[str, object] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class _Stage(threading.Thread):
    """A worker thread that records its first exception for the caller to re-raise."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # handed to the main thread
            self.error = exc


def _put(q: queue.Queue, item: object, keep_going: Callable[[], bool]) -> bool:
    """Put with backpressure, giving up once `keep_going()` turns false (a stop, a dead consumer)."""
    while keep_going():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_stream(
    frames: Iterable[Frame],
    graph: Callable[[np.ndarray, np.ndarray], np.ndarray],
    batch_size: int,
    write: Callable[[Frame], None],
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    finish: Callable[[Frame, np.ndarray, np.ndarray], np.ndarray] | None = None,
    on_frame: Callable[[int], None] | None = None,
    backward: BackwardPass | None = None,
) -> RunStats:
    """Stream `frames` through `graph` in fixed-size batches and `write` every result in order.

    `prepare(image) -> input` runs on the decoder's thread (shrinking to the working size);
    `graph(inputs, times)` takes and returns [batch_size, h, w, 3] uint8 inputs, with their
    frames' timestamps (float64 [batch_size], seconds); a partial last batch is padded by
    repeating its last frame (the graph never recompiles) and the padding is dropped.
    `finish(frame, input, output) -> image` runs in frame order on the encoder's thread
    (stabilising, enlarging, reacting to the music). A `backward` pass (two-way
    stabilisation) then holds finished frames back and writes them smoothed toward their
    successors; what it holds when the run ends or stops is smoothed and written then.
    """
    stats = RunStats()
    stop = threading.Event()
    inbox: queue.Queue = queue.Queue(QUEUE_BATCHES)
    outbox: queue.Queue = queue.Queue(QUEUE_BATCHES)

    def running() -> bool:
        return not stop.is_set()

    seconds = stats.stage_seconds

    def read() -> None:
        source = batches(frames, batch_size)
        while True:
            t0 = time.perf_counter()
            batch = next(source, None)
            if batch is not None:
                batch = [(f, f.image if prepare is None else prepare(f.image)) for f in batch]
            seconds["decode"] += time.perf_counter() - t0
            if batch is None:
                break
            if not _put(inbox, batch, running):
                return
        _put(inbox, END, running)

    def emit(ready: list[tuple[Frame, np.ndarray]]) -> None:
        for frame, image in ready:
            t0 = time.perf_counter()
            write(replace(frame, image=np.ascontiguousarray(image)))
            seconds["encode"] += time.perf_counter() - t0
            stats.frames += 1
            if on_frame:
                on_frame(stats.frames)

    def write_all() -> None:
        while True:
            item = outbox.get()
            if item is END:
                break
            batch, images = item
            for (frame, prepared), image in zip(batch, images, strict=False):
                t0 = time.perf_counter()
                if finish is not None:
                    image = finish(frame, prepared, image)
                ready = [(frame, image)] if backward is None else backward.push(frame, image)
                seconds["finish"] += time.perf_counter() - t0
                emit(ready)
        if backward is not None:  # the end, or a stop: what was finished is written
            t0 = time.perf_counter()
            ready = backward.flush()
            seconds["finish"] += time.perf_counter() - t0
            emit(ready)

    reader, writer = _Stage("decode", read), _Stage("encode", write_all)
    start = time.perf_counter()
    reader.start()
    writer.start()

    def drain() -> None:
        """Let the writer finish what was computed, so an interrupted run keeps its frames."""
        stop.set()
        _put(outbox, END, writer.is_alive)
        _join_quietly(writer, stats)
        reader.join(timeout=5)
        stats.seconds = time.perf_counter() - start

    try:
        try:
            while True:
                item = _get(inbox, reader)
                if item is END:
                    break
                stacked = np.stack([prepared for _, prepared in item])  # [n, h, w, 3] uint8
                times = np.array([frame.pts for frame, _ in item], dtype=np.float64)
                if len(item) < batch_size:
                    pad = np.repeat(stacked[-1:], batch_size - len(item), axis=0)
                    stacked = np.concatenate([stacked, pad])
                    times = np.concatenate([times, np.repeat(times[-1:], batch_size - len(item))])
                t0 = time.perf_counter()
                out = graph(stacked, times)
                seconds["graph"] += time.perf_counter() - t0
                if not _put(outbox, (item, out[: len(item)]), writer.is_alive):
                    break
        finally:
            with signals.shielded():  # a signal meanwhile is raised once the writer is done
                drain()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP (engine.signals)
        stats.interrupted = True
        if writer.is_alive():  # it came just before the shield was up
            drain()
    for stage in (reader, writer):
        if stage.error is not None:
            raise stage.error
    return stats


def _get(q: queue.Queue, producer: _Stage) -> object:
    """Take the next item, or stop if the producer died."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if not producer.is_alive():
                if producer.error is not None:
                    raise producer.error from None
                return END


def _join_quietly(writer: _Stage, stats: RunStats) -> None:
    """Join the writer; a second Ctrl-C while it drains is noted, not raised mid-write (this
    matters where engine.signals' handlers are not installed: a library caller's Ctrl-C)."""
    while writer.is_alive():
        try:
            writer.join(timeout=0.2)
        except KeyboardInterrupt:
            stats.interrupted = True
