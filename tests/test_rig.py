"""Fitting dreamreel into a VJ rig: OSC both ways (every change echoed to the controller, as
the value and as 0..1) on real UDP sockets on 127.0.0.1, OSCQuery's parameter tree over HTTP
with its zeroconf adverts (in a private network namespace, so nothing multicasts beyond the
machine), and outputs at a fixed size and rate whatever the camera gives."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, in_private_network
from run_helpers import probe
from test_live import CLI, free_port, osc, show_state, wait_for
from test_mask import crossing_clip

from dreamreel.engine.live.keys import handle_key
from dreamreel.engine.live.osc import OscEcho, OscServer, reply_address
from dreamreel.errors import UsageError


class Controller:
    """A TouchOSC stand-in: a UDP socket on 127.0.0.1 that keeps every OSC message it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.got: dict[str, list] = {}

    def read(self) -> dict[str, list]:
        from pythonosc.osc_message import OscMessage

        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return self.got
            message = OscMessage(data)
            self.got.setdefault(message.address, []).append(message.params[0])

    def last(self, address: str) -> object:
        return self.read().get(address, [None])[-1]


def test_every_change_is_echoed_to_the_controller() -> None:
    state = show_state(["style", "kernels"])
    controller = Controller()
    echo = OscEcho(state, "127.0.0.1", controller.port)
    port = free_port()
    server = OscServer(state, port).start()
    try:
        osc(port, "/dreamreel/strength/unit", 0.25)  # from OSC, normalised
        wait_for(lambda: controller.last("/dreamreel/strength") == 0.25, "the strength echo")
        assert controller.last("/dreamreel/strength/unit") == 0.25
        handle_key(state, ";")  # from the keyboard: the wet fader down a step
        wait_for(lambda: controller.last("/dreamreel/wet") is not None, "the wet echo")
        assert controller.last("/dreamreel/wet") == pytest.approx(0.9)
        osc(port, "/dreamreel/sigma/unit", 0.5)  # a pipeline's own setting, 0.5..16 px
        wait_for(lambda: controller.last("/dreamreel/sigma") is not None, "the sigma echo")
        assert controller.last("/dreamreel/sigma") == pytest.approx(8.25)
        assert controller.last("/dreamreel/sigma/unit") == pytest.approx(0.5)
        state.set("pipeline", "kernels")  # steps: the fader's place among the setlist
        wait_for(lambda: controller.last("/dreamreel/pipeline") == "kernels", "the pipeline echo")
        assert controller.last("/dreamreel/pipeline/unit") == 1.0
        handle_key(state, "backspace")  # blackout, a switch: 1 and 1.0
        wait_for(lambda: controller.last("/dreamreel/blackout") == 1, "the blackout echo")
        controller.got.clear()
        osc(port, "/dreamreel/sync", 1)  # a controller that just connected asks for it all
        wait_for(lambda: "/dreamreel/crossfade" in controller.read(), "the sync")
        time.sleep(0.2)
        got = controller.read()
        for name in state.names:
            if name not in state.commands:
                assert "/dreamreel/" + name in got, name
        assert got["/dreamreel/strength"] == [0.25] and got["/dreamreel/blackout"] == [1]
        assert echo.sent > len(state.names)
    finally:
        server.stop()
        controller.sock.close()


def test_echo_address_is_checked() -> None:
    assert reply_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    for bad in ("9000", "host:", "host:70000", ":9000"):
        with pytest.raises(UsageError, match="give HOST:PORT"):
            reply_address(bad)


def test_outputs_at_a_fixed_size_and_rate_whatever_the_camera(tmp_path: Path) -> None:
    clip = crossing_clip(tmp_path / "crossing.mp4")  # 640x360 at 12 fps
    record = tmp_path / "show.mp4"
    done = subprocess.run(
        [sys.executable, "-c", CLI, "live", "--source", str(clip), "--loop", "--pipeline",
         "kernels", "--kernel", "sobel", "--size", "64", "--no-preview", "--duration", "6",
         "--out-size", "320x240", "--out-fps", "30", "--record", str(record)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "live 640x360 as 320x240 at 30 fps -> recording" in done.stderr
    made = probe(record, frames=True)
    assert made["size"] == (320, 240)
    gaps = np.diff(made["times"])
    assert np.all(np.abs(gaps - 1 / 30) < 0.0015), sorted(set(np.round(gaps, 4)))  # ms ticks
    # The show itself ran well below 30 fps, yet the stream is steady: pictures repeat.
    assert 0.6 * 30 * 6 < made["count"] <= 30 * 6 + 2, made["count"]
    images = made["images"]
    # 640x360 fits as 320x180: 30 black rows above and below. The outer 16 are whole
    # macroblocks that the codec's ringing from the picture's edge cannot reach.
    bars = np.concatenate([images[:, :16], images[:, -16:]], axis=1)
    assert bars.max() <= 16  # black, give or take the codec's rounding
    assert images[:, 40:200].mean() > 5  # the Sobel picture between them


def test_bad_out_size_is_one_line() -> None:
    for bad in ("1920", "10x10", "axb"):
        done = cli("live", "--source", "x.mp4", "--out-size", bad)
        assert done.returncode == 2 and "WIDTHxHEIGHT" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


DISCOVERY = r"""
import json, sys, time, urllib.request
sys.path.insert(0, sys.argv[1])
from test_live import free_port, osc, show_state
from zeroconf import Zeroconf
from dreamreel.engine.live.osc import OscServer
from dreamreel.engine.live.oscquery import OscQuery

state = show_state(["style", "kernels"])
server = OscServer(state, free_port()).start()
query = OscQuery(state, free_port(), server.port).start()
base = f"http://127.0.0.1:{query.port}"
get = lambda path: json.loads(urllib.request.urlopen(base + path, timeout=10).read() or b"null")
found = {"tree": get("/"), "host": get("/?HOST_INFO")}
osc(server.port, "/dreamreel/strength", 0.4)
time.sleep(0.3)
found["strength_value"] = get("/dreamreel/strength?VALUE")
found["sigma_unit"] = get("/dreamreel/sigma/unit")
browser = Zeroconf(interfaces=["127.0.0.1"])  # a VDMX looking for OSCQuery servers
adverts = {}
for kind in ("_oscjson._tcp.local.", "_osc._udp.local."):
    info = browser.get_service_info(kind, f"dreamreel.{kind}", timeout=5000)
    adverts[kind] = None if info is None else info.port
found["adverts"], found["ports"] = adverts, [query.port, server.port]
browser.close()
query.stop()
server.stop()
print(json.dumps(found))
"""


def test_oscquery_lists_every_parameter_and_zeroconf_finds_it() -> None:
    pytest.importorskip("zeroconf", reason="zeroconf (the discovery extra) is not installed")
    found = in_private_network(DISCOVERY, Path(__file__).parent)
    params = found["tree"]["CONTENTS"]["dreamreel"]["CONTENTS"]
    strength = params["strength"]
    assert strength["FULL_PATH"] == "/dreamreel/strength" and strength["TYPE"] == "f"
    assert strength["RANGE"] == [{"MIN": 0.0, "MAX": 1.0}] and strength["ACCESS"] == 3
    assert params["pipeline"]["RANGE"] == [{"VALS": ["style", "kernels"]}]
    assert params["style"]["TYPE"] == "s" and "25" in params["style"]["RANGE"][0]["VALS"]
    assert params["sigma"]["RANGE"] == [{"MIN": 0.5, "MAX": 16.0}]
    assert params["blackout"]["TYPE"] == "i" and params["tap"]["TYPE"] == "N"
    assert found["strength_value"]["VALUE"] == [pytest.approx(0.4)]  # set over OSC, read by HTTP
    assert found["sigma_unit"]["FULL_PATH"] == "/dreamreel/sigma/unit"
    assert found["host"]["OSC_PORT"] == found["ports"][1]
    assert found["host"]["OSC_TRANSPORT"] == "UDP"
    assert found["adverts"] == {"_oscjson._tcp.local.": found["ports"][0],
                                "_osc._udp.local.": found["ports"][1]}
