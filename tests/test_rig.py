"""Fitting dreamreel into a VJ rig: OSC both ways (every change echoed to the controller, as
the value and as 0..1), on real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest
from test_live import free_port, osc, show_state, wait_for

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
