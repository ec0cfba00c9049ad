"""OSC control of a show: `/dreamreel/<parameter>` for every parameter, on a UDP thread.

Every parameter takes its value (`/dreamreel/strength 0.25`, `/dreamreel/style "3:0.5,12:0.5"`)
or, at `/dreamreel/<parameter>/unit`, a float 0..1 spread over its range (Resolume's
convention). With `--osc-reply HOST:PORT` every change, whoever made it (keys, MIDI, OSC, the
web page), is sent back both ways, so a TouchOSC or Open Stage Control fader follows it;
`/dreamreel/sync` sends every value at once (a controller that has just connected). A malformed or unknown message is logged once per address and ignored, so a
flood cannot stop the show or fill the terminal; past MAX_ADDRESSES distinct bad addresses (a
sender spraying random ones) one more line says the rest are ignored, so a show of hours keeps
neither a growing list of addresses nor a scrolling terminal.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from dreamreel.engine.live.params import BUTTONS, LiveState, OnceLog
from dreamreel.errors import SettingsError, UsageError

OSC_PREFIX = "/dreamreel/"
UNIT = "/unit"
MAX_ADDRESSES = 32  # distinct bad addresses warned about, one line each, before going quiet


class AddressLog:
    """OnceLog for a sender's mistakes, remembering at most MAX_ADDRESSES of them."""

    def __init__(self) -> None:
        self._once = OnceLog()
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str) -> None:
        with self._lock:
            if key not in self._keys and len(self._keys) >= MAX_ADDRESSES:
                key, message = "<more>", f"OSC: over {MAX_ADDRESSES} bad addresses"
            else:
                self._keys.add(key)
        self._once(key, message)


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


def osc_apply(state: LiveState, address: str, args: list[Any],
              warn: Callable[[str, str], None]) -> bool:
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
    except (SettingsError, ValueError, TypeError, ArithmeticError) as err:  # inf to a flag: Overflow
        warn(address, f"OSC {address} {args[0]!r}: {err}")
        return False
    return True


def reply_address(text: str) -> tuple[str, int]:
    """HOST:PORT of --osc-reply, checked."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--osc-reply {text}: give HOST:PORT, e.g. 127.0.0.1:9000")
    return host, int(port)


class OscEcho:
    """Sends each parameter's new value to a controller: `/dreamreel/<name> value` and, where
    a fader can show it, `/dreamreel/<name>/unit 0..1`. Registered as a listener of the
    LiveState, and as its `sync` command."""

    def __init__(self, state: LiveState, host: str, port: int) -> None:
        from pythonosc.udp_client import SimpleUDPClient

        self.state, self.where = state, f"{host}:{port}"
        try:
            self.client = SimpleUDPClient(host, port)
        except OSError as err:
            raise UsageError(f"--osc-reply {host}:{port}: {err.strerror or err}") from err
        self.sent = 0
        self.warn = OnceLog()
        state.on_change.append(self.send)
        state.commands["sync"] = lambda _value=None: self.sync()

    def sync(self) -> None:
        """Every parameter's value, as if each had just changed."""
        for name in self.state.names:
            if name not in self.state.commands:
                self.send(name, self.state.value(name))

    def send(self, name: str, value: Any) -> None:
        if name in self.state.commands:
            return
        address = OSC_PREFIX + name
        if isinstance(value, bool):
            plain: Any = int(value)
        elif isinstance(value, int | float | str):
            plain = value
        elif isinstance(value, tuple):  # a blend of styles
            plain = ",".join(map(str, value))
        else:
            plain = "" if value is None else str(value)
        try:
            self.client.send_message(address, plain)
            unit = self.state.unit(name, value)
            if unit is not None:
                self.client.send_message(address + UNIT, float(unit))
            self.sent += 1
        except OSError as err:  # a controller that went away must not stop the show
            self.warn("echo", f"OSC echo to {self.where}: {err}")


class PythonOscWarnings(logging.Filter):
    """python-osc reports a malformed bundle or type tag with `logging.warning` on the root
    logger, one line per packet: a flood of them would scroll the terminal. While a server
    listens, those records go to its warn-once log instead."""

    def __init__(self, warn: Callable[[str, str], None]) -> None:
        super().__init__()
        import pythonosc

        self.warn, self.home = warn, os.path.dirname(pythonosc.__file__)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.pathname.startswith(self.home):
            return True
        self.warn("<malformed OSC>", f"OSC: ignored part of a malformed packet ({record.getMessage()})")
        return False


class OscServer:
    """A UDP OSC listener on its own thread, parsing with python-osc.

    A plain socket loop rather than python-osc's server, so that a datagram that is not OSC
    at all is logged (once) too, and stopping is prompt.
    """

    def __init__(self, state: LiveState, port: int, host: str = "127.0.0.1") -> None:
        self.state = state
        self.warn = AddressLog()
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
        self._quiet = PythonOscWarnings(self.warn)

    def start(self) -> OscServer:
        logging.getLogger().addFilter(self._quiet)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
        logging.getLogger().removeFilter(self._quiet)

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
            except (ParseError, Exception) as err:  # whatever the bytes, the thread listens on
                self.warn("<not OSC>", f"OSC: ignored a packet that is not OSC ({err})")
                continue
            for timed in messages:
                address = timed.message.address
                try:
                    osc_apply(self.state, address, list(timed.message.params), self.warn)
                except Exception as err:  # never let one message end OSC control for the show
                    self.warn(address, f"OSC {address}: ignored ({type(err).__name__}: {err})")
