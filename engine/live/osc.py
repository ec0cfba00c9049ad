"""OSC control of a show: `/dreamreel/<parameter>` for every parameter, on a UDP thread.

Every parameter takes its value (`/dreamreel/strength 0.25`, `/dreamreel/style "3:0.5,12:0.5"`)
or, at `/dreamreel/<parameter>/unit`, a float 0..1 spread over its range (Resolume's
convention). A malformed or unknown message is logged once per address and ignored, so a
flood cannot stop the show or fill the terminal.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from dreamreel.engine.live.params import BUTTONS, LiveState, OnceLog
from dreamreel.errors import SettingsError, UsageError

OSC_PREFIX = "/dreamreel/"
UNIT = "/unit"


def osc_address(state: LiveState, address: str) -> tuple[str, bool] | None:
    """(parameter, whether the value is 0..1 over its range) of an address, None if unknown."""
    if not address.startswith(OSC_PREFIX):
        return None
    key = address[len(OSC_PREFIX):]
    unit = key.endswith(UNIT)
    key = key[: -len(UNIT)] if unit else key
    aliases = {a: name for name, e in state.entries.items() for a in e.knob.aliases}
    key = aliases.get(key, key)
    if key in BUTTONS and not unit:
        return key, False
    return (key, unit) if key in state.names else None


def osc_apply(state: LiveState, address: str, args: list[Any], warn: OnceLog) -> bool:
    """Apply one OSC message; a malformed or unknown one is warned about once and ignored."""
    target = osc_address(state, address)
    if target is None:
        warn(address, f"OSC: unknown address {address!r}")
        return False
    key, unit = target
    if key in BUTTONS:  # a press sends no argument or 1; the release (0) is ignored
        if not args or args[0]:
            BUTTONS[key](state)
        return True
    if len(args) != 1:
        warn(address, f"OSC {address}: expects one argument, got {args!r}")
        return False
    try:
        if unit:
            state.set_unit(key, float(args[0]))
        else:
            state.set(key, args[0])
    except (SettingsError, ValueError, TypeError) as err:
        warn(address, f"OSC {address} {args[0]!r}: {err}")
        return False
    return True


class OscServer:
    """A UDP OSC listener on its own thread, parsing with python-osc.

    A plain socket loop rather than python-osc's server, so that a datagram that is not OSC
    at all is logged (once) too, and stopping is prompt.
    """

    def __init__(self, state: LiveState, port: int, host: str = "127.0.0.1") -> None:
        self.state = state
        self.warn = OnceLog()
        self.received = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as err:
            self._sock.close()
            raise UsageError(f"--osc {port}: cannot listen on {host}:{port} ({err.strerror})") from err
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osc", daemon=True)

    def start(self) -> OscServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def _run(self) -> None:
        from pythonosc.osc_packet import OscPacket, ParseError

        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            try:
                messages = OscPacket(data).messages
            except (ParseError, ValueError, IndexError, UnicodeDecodeError) as err:
                self.warn("<not OSC>", f"OSC: ignored a packet that is not OSC ({err})")
                continue
            for timed in messages:
                osc_apply(self.state, timed.message.address, list(timed.message.params), self.warn)
