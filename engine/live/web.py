"""`--web PORT`: a control page for a phone or tablet, served by the show itself.

One page (page.html) over HTTP, and a WebSocket on the same port that carries every parameter
both ways: the page's faders and buttons go through `LiveState` like keys, OSC and MIDI, and
every change, whoever made it, comes back to every open page, with the show's fps and latency
twice a second. Bound to 127.0.0.1 unless `--web-host` says otherwise; beyond this machine the
URL carries a token, and a request without it is refused.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dreamreel.engine.live.params import BUTTONS, SWITCHES, LiveState
from dreamreel.errors import SettingsError, UsageError

log = logging.getLogger("dreamreel.live")

STATS_SECONDS = 0.5  # how often the page hears the fps and latency
# How long a connection may take to close. websockets' 10 s default held the show's quit for
# that long whenever a client still had the page's HTTP connection open.
CLOSE_SECONDS = 1.0


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def reachable_address() -> str:
    """This machine's address on its network, for the URL a phone types (a UDP socket's
    connect sends nothing; it only picks the route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


class WebControl:
    """The page's server, on threads of its own (websockets' threaded server)."""

    def __init__(self, state: LiveState, port: int, host: str = "127.0.0.1",
                 stats: Callable[[], dict[str, float]] | None = None) -> None:
        try:
            from websockets.sync.server import serve
        except ImportError as err:
            raise UsageError("--web: pip install 'dreamreel[live]' (websockets)") from err
        self.state, self.stats = state, stats
        self.token = None if is_loopback(host) else secrets.token_urlsafe(12)
        self.page = resources.files("dreamreel.engine.live").joinpath("page.html").read_bytes()
        self._clients: set = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        try:
            self._server = serve(self._session, host, port, process_request=self._http,
                                 close_timeout=CLOSE_SECONDS,
                                 logger=logging.getLogger("dreamreel.web"))
        except OSError as err:
            raise UsageError(f"--web {port}: cannot listen on {host}:{port} ({err.strerror})") from err
        self.port = self._server.socket.getsockname()[1]
        shown = reachable_address() if host in ("0.0.0.0", "::") else host
        shown = shown if ":" not in shown else f"[{shown}]"
        self.url = f"http://{shown}:{self.port}/" + (f"?token={self.token}" if self.token else "")
        state.on_change.append(self._changed)
        self._threads = [threading.Thread(target=self._server.serve_forever, name="web", daemon=True),
                         threading.Thread(target=self._tick, name="web-stats", daemon=True)]

    def start(self) -> WebControl:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        for thread in self._threads:
            thread.join()
        self.state.on_change.remove(self._changed)

    def _allowed(self, target: str) -> bool:
        if self.token is None:
            return True
        given = parse_qs(urlsplit(target).query).get("token", [""])[0]
        return secrets.compare_digest(given, self.token)

    def _http(self, connection: Any, request: Any) -> Any:
        """The page at /, the WebSocket at /ws; anything else, or no token, is refused."""
        path = urlsplit(request.path).path
        if not self._allowed(request.path):
            return connection.respond(HTTPStatus.FORBIDDEN, "a token is needed: use the URL "
                                      "dreamreel printed\n")
        if path == "/ws":
            return None
        if path != "/":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        headers = Headers([("Content-Type", "text/html; charset=utf-8"),
                           ("Content-Length", str(len(self.page))), ("Cache-Control", "no-store")])
        return Response(HTTPStatus.OK, "OK", headers, self.page)

    def schema(self) -> dict[str, dict[str, Any]]:
        """Each parameter as the page draws it: a fader (unit), a switch, a row of choices."""
        out = {}
        for name in self.state.names:
            if name in self.state.commands:
                continue
            value = self.state.value(name)
            steps = self.state.steps(name)
            kind = ("switch" if name in SWITCHES or isinstance(value, bool) else
                    "choice" if steps and len(steps) > 1 else
                    "fader" if self.state.unit(name, value) is not None else "text")
            out[name] = {"kind": kind, "value": _plain(value), "unit": self.state.unit(name, value),
                         "steps": steps}
        return out

    def _session(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        hello = {"type": "state", "params": self.schema(),
                 "presets": "preset" in self.state.commands}
        try:
            connection.send(json.dumps(hello))
            with self._lock:
                self._clients.add(connection)
            for message in connection:
                self._apply(message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.discard(connection)

    def _apply(self, message: str | bytes) -> None:
        """{"set": name, "value": v}, {"unit": name, "value": 0..1} or {"press": "tap"}; a bad
        one is logged and ignored, as OSC's are."""
        try:
            asked = json.loads(message)
            if "press" in asked and asked["press"] in BUTTONS:
                BUTTONS[asked["press"]](self.state)
            elif "unit" in asked:
                self.state.set_unit(str(asked["unit"]), float(asked["value"]))
            elif "set" in asked:
                self.state.set(str(asked["set"]), asked["value"])
            else:
                raise ValueError(f"nothing to do in {asked!r}")
        except (SettingsError, UsageError, ValueError, KeyError, TypeError, AttributeError) as err:
            log.warning("web page: ignored %s (%s)", str(message)[:200], err)

    def _broadcast(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            try:
                client.send(text)
            except Exception:  # a phone that went to sleep: it reconnects on its own
                with self._lock:
                    self._clients.discard(client)

    def _changed(self, name: str, value: Any) -> None:
        if name in self.state.commands:
            return
        self._broadcast({"type": "change", "name": name, "value": _plain(value),
                         "unit": self.state.unit(name, value)})

    def _tick(self) -> None:
        while not self._stop.wait(STATS_SECONDS):
            if self.stats is not None and self._clients:
                self._broadcast({"type": "stats", **self.stats()})


def _plain(value: Any) -> Any:
    """A value as JSON holds it (a style blend's parts joined)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return value if isinstance(value, bool | int | float | str) or value is None else str(value)
