"""Faults during a live show: the show goes on, each fault costs one line, no traceback.

- MIDI garbage: random bytes through mido's own stream parser (what its port backends decode a
  controller's bytes with) into the show's MidiHandler, while the show runs and records.
- An output that disappears mid-show: there is no v4l2loopback or NDI runtime here, so a
  Writer whose write starts raising (`VanishingCamera`) is the fault's stand-in; it goes
  through `start_output`, as the virtual camera and NDI do in `dreamreel live`.
- A recording whose folder is removed mid-show, and one whose file may grow no more (the
  kernel's file-size limit, RLIMIT_FSIZE: the write fails with EFBIG as a full disk fails
  with ENOSPC, without root to mount a small filesystem), in a real `dreamreel live` process
  that also gets malformed OSC packets and a value that once killed the OSC thread.
- A sender spraying distinct wrong OSC addresses: a bounded number of lines.

Camera lost and back, OSC floods and non-OSC datagrams are in test_live.py.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from test_live import (
    CLI,
    film,
    free_port,
    open_film,
    osc,
    perform,
    program_state,
    saturation,
    scripted_show,
    show_state,
    wait_for,
)

from dreamreel.engine.live.midi import MidiHandler, load_midi_map
from dreamreel.engine.live.osc import MAX_ADDRESSES, OscServer
from dreamreel.engine.live.outputs import Recorder, start_output
from dreamreel.engine.live.programs import compile_programs
from dreamreel.engine.media import Frame

MIDI_MAP = ('[[map]]\ncc = 21\nparam = "strength"\n\n[[map]]\ncc = 22\nparam = "style"\n\n'
            '[[map]]\ncc = 23\nparam = "temporal"\n\n[[map]]\ncc = 24\nparam = "crossfade"\n\n'
            '[[map]]\nnote = 36\nparam = "osd"\n\n[[map]]\nnote = 37\nparam = "style"\n'
            'value = "3:0.5,12:0.5"\n\n[[map]]\nnote = 38\nparam = "pipeline"\n')


@pytest.fixture(scope="module")
def stage():
    """The film looping as a camera and the style pipeline compiled at 48 px, shared."""
    capture, height, width = open_film()
    programs = compile_programs(["style"], {}, height, width, [48], "/CPU:0", False, "float32")
    yield capture, programs, height, width
    capture.stop()


class VanishingCamera:
    """Fault stand-in for a virtual camera (or NDI sender) whose device goes away: every
    write raises once `gone` is set, as pyvirtualcam does when v4l2loopback is unloaded."""

    name = "virtual camera"

    def __init__(self, gone: threading.Event) -> None:
        self.gone, self.writes, self.calls = gone, 0, 0

    def write(self, frame: Frame) -> None:
        self.calls += 1
        if self.gone.is_set():
            raise OSError(19, "No such device", "/dev/video9")
        self.writes += 1

    def close(self) -> None:
        if self.gone.is_set():
            raise OSError(19, "No such device", "/dev/video9")


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_show_goes_on_through_midi_garbage_and_a_vanishing_camera(
        stage, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    mido = pytest.importorskip("mido")
    capture, programs, height, width = stage
    state = program_state(programs, crossfade=0.0, osd=False, style="5")
    (tmp_path / "map.toml").write_text(MIDI_MAP)
    bindings = load_midi_map(tmp_path / "map.toml")
    handler = MidiHandler(state, bindings)
    gone = threading.Event()
    recorder = Recorder(tmp_path / "show.mp4", width, height, 25, False, preset="ultrafast")
    outputs = [recorder, start_output(VanishingCamera, gone)]
    camera = outputs[1].output
    caplog.set_level(logging.INFO, "dreamreel.live")
    show, shown = scripted_show(state, capture, programs, 10**6, outputs=outputs)
    marks: dict[str, int] = {}
    garbage_done = threading.Event()

    def garbage() -> None:
        """A controller spewing noise: random bytes, decoded as mido decodes a port's bytes."""
        parser, rng = mido.Parser(), random.Random(3)
        while not garbage_done.is_set():
            parser.feed(rng.randbytes(rng.randint(1, 12)))
            for message in parser:
                handler(message)
            marks["midi"] = marks.get("midi", 0) + 1
            time.sleep(0.001)

    def performer() -> None:
        noise = threading.Thread(target=garbage)
        try:
            wait_for(lambda: len(shown) >= 5, "5 frames")
            noise.start()
            wait_for(lambda: len(shown) >= 15, "15 frames under MIDI noise")
            gone.set()  # the virtual camera's device disappears
            marks["gone"] = len(shown)
            wait_for(lambda: len(shown) >= marks["gone"] + 25, "25 frames after the loss")
            garbage_done.set()
            noise.join()
            handler(mido.Message("note_on", note=36, velocity=0))  # a release: nothing
            handler(mido.Message("control_change", control=23, value=0))  # stabiliser off
            handler(mido.Message("control_change", control=21, value=0))  # strength 0: the film
            wait_for(lambda: state.snapshot().strength == 0.0, "the MIDI strength")
            marks["plain"] = len(shown)
            wait_for(lambda: len(shown) >= marks["plain"] + 8, "8 plain frames")
        finally:
            garbage_done.set()
            state.quit.set()

    try:
        perform(show, performer)
    finally:
        for output in outputs:
            output.close()

    assert {"gone", "plain"} <= marks.keys() and marks["midi"] > 100, marks
    records = [r for r in caplog.records if r.name == "dreamreel.live"]
    lost = [r.getMessage() for r in records if "virtual camera" in r.getMessage()]
    assert lost == ["virtual camera stopped ([Errno 19] No such device: '/dev/video9'); the show "
                    "goes on without it"], lost
    assert camera.writes >= 15 and camera.calls == camera.writes + 1  # dropped at once
    midi = [r.getMessage() for r in records if r.getMessage().startswith("MIDI")]
    assert len(midi) <= len(bindings), midi  # at most one line per control, however much noise
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
    # The recording is whole: every frame shown, playable to the end, the film at the end.
    frames = decode(tmp_path / "show.mp4")
    assert recorder.error is None
    assert len(frames) == len(shown) - recorder.dropped and len(frames) > 40
    last_in, last_out = shown[-1][1], shown[-1][2]
    assert np.abs(last_out.astype(int) - last_in).mean() < 2  # strength 0 reached the show
    assert np.abs(frames[-1].astype(int) - last_out).mean() < 4  # ...and the file


def test_recording_folder_removed_mid_show(stage, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    capture, programs, height, width = stage
    folder = tmp_path / "takes"
    folder.mkdir()
    recorder = Recorder(folder / "set.mp4", width, height, 25, False, preset="ultrafast")
    state = program_state(programs, crossfade=0.0, osd=False, style="5")
    caplog.set_level(logging.INFO, "dreamreel.live")
    marks: dict[str, int] = {}

    def remove_folder(frames: int) -> None:
        if frames == 10:
            shutil.rmtree(folder)  # someone tidies up the recordings folder mid-show
            marks["removed"] = frames

    show, shown = scripted_show(state, capture, programs, 40, outputs=[recorder])
    on_frame = show.on_frame
    show.on_frame = lambda captured, output: (on_frame(captured, output), remove_folder(len(shown)))
    show.run()
    recorder.close()  # no exception: the failure was dealt with when it happened

    assert len(shown) == 40 and marks == {"removed": 10}
    lines = [r.getMessage() for r in caplog.records if "recording" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"recording stopped: {folder / 'set.mp4'}: folder {folder} was "
                               "removed during the run;") and lines[0].endswith("the show goes on")
    assert recorder.error is not None and not folder.exists()
    assert not any(r.exc_info for r in caplog.records)


def test_osc_spray_of_addresses_costs_a_bounded_number_of_lines(
        caplog: pytest.LogCaptureFixture) -> None:
    """A sender spraying distinct wrong addresses over a long show: a line for each of the
    first MAX_ADDRESSES, one more saying so, then silence; the show's control still works."""
    state = show_state(["style"])
    server = OscServer(state, 0).start()
    caplog.set_level(logging.WARNING, "dreamreel.live")
    try:
        for i in range(500):
            osc(server.port, f"/somewhere/{i}", i)
            if i % 50 == 49:  # paced, so that the socket's buffer never drops one
                wait_for(lambda n=i + 1: server.received >= n, "the datagrams", timeout=10)
        osc(server.port, "/dreamreel/strength", 0.25)
        wait_for(lambda: state.snapshot().strength == 0.25, "the strength", timeout=10)
    finally:
        server.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == MAX_ADDRESSES + 1, lines[-3:]
    assert lines[-1].startswith(f"OSC: over {MAX_ADDRESSES} bad addresses")


def with_file_size_limit(limit: int, cmd: list[str]) -> list[str]:
    """`cmd` run with its files limited to `limit` bytes: a longer write fails with EFBIG
    (Python ignores the SIGXFSZ the kernel also sends). A small Python that sets the limit and
    execs `cmd`, rather than preexec_fn, which is unsafe in a process with threads."""
    setup = ("import os, resource, sys; "
             f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
             "os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", setup, *cmd]


def malformed_osc_packets() -> list[bytes]:
    """Bundles and messages python-osc parses only in part (it logs each on the root logger)."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder("/dreamreel/strength")
    builder.add_arg(0.5)
    good = builder.build().dgram
    unknown_tag = good.replace(b",f", b",Q")  # a type tag python-osc does not know
    junk_bundle = b"#bundle\x00" + bytes(8) + (8).to_bytes(4, "big") + b"\x01\x02junk!!"
    return [unknown_tag, junk_bundle]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and EFBIG: Linux")
def test_cli_show_survives_a_full_disk_and_malformed_osc(tmp_path: Path) -> None:
    record = tmp_path / "set.mp4"
    shots = tmp_path / "shots"
    port = free_port()
    cmd = [sys.executable, "-c", CLI, "live", "--source", str(film()), "--loop", "--size", "64",
           "--style", "5", "--crossfade", "0", "--no-preview", "--duration", "12", "--record",
           str(record), "--record-preset", "ultrafast", "--record-crf", "0", "--osc", str(port),
           "--screenshots", str(shots), "--json"]
    proc = subprocess.Popen(with_file_size_limit(3 * 2**20, cmd), cwd=tmp_path,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("recording stopped" in line for line in lines) or proc.poll() is not None,
                 "the recording to hit the limit", timeout=180)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for _ in range(50):
                for packet in malformed_osc_packets():
                    raw.sendto(packet, ("127.0.0.1", port))
        osc(port, "/dreamreel/osd", float("inf"))  # once raised OverflowError in the OSC thread
        osc(port, "/dreamreel/strength", 0.0)  # OSC still listens: the film, unstyled
        time.sleep(1.0)
        osc(port, "/dreamreel/screenshot", 1)  # and the show still makes pictures
        out = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(5)
    text = "".join(lines)
    print("\n" + text)
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "WARNING:root" not in text
    stopped = [line for line in lines if "recording stopped" in line]
    assert len(stopped) == 1 and "File too large" in stopped[0], text
    assert sum("malformed OSC" in line for line in lines) <= 1
    assert sum("/dreamreel/osd" in line for line in lines) == 1
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["frames"] > 0 and "File too large" in summary["record_error"]
    assert lines[-1].rstrip().endswith("; no recording kept")  # the closing line says so
    assert not record.exists() and not list(tmp_path.glob(".set.*"))  # no half file left
    [shot] = list(shots.iterdir())
    picture = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    assert saturation([picture]) < 3  # the gray film: strength 0 arrived after the OSC junk


def test_a_midi_map_binding_a_painting_without_naming_one_is_refused(tmp_path: Path) -> None:
    """A pad on `style_image` with no picture would step a path like a number on every press:
    refused when the map is read, in one line naming the entry."""
    from dreamreel.errors import UsageError

    path = tmp_path / "map.json"
    path.write_text(json.dumps({"map": [{"cc": 21, "param": "strength"},
                                        {"note": 60, "param": "style_image"}]}))
    with pytest.raises(UsageError, match="entry 2 is invalid .*style_image takes a picture"):
        load_midi_map(path)
