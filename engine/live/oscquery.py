"""`--oscquery PORT`: the show's OSC parameters described over HTTP (the OSCQuery protocol,
Vidvox 2017), so VDMX, Chataigne or TouchDesigner list them with their types, ranges and
current values without a manual, and advertised by zeroconf (`_oscjson._tcp` and `_osc._udp`)
so they find the show on the network.

GET / is the whole tree, GET /dreamreel/strength one node, `?VALUE` (or any attribute) just
that, `?HOST_INFO` where to send OSC. zeroconf (python-zeroconf, LGPL-2.1-or-later) is an
optional extra, imported only here; without it the tree is served and not advertised.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from dreamreel.engine.live.osc import OSC_PREFIX, UNIT
from dreamreel.engine.live.params import BUTTONS, MAX_CROSSFADE, SWITCHES, LiveState
from dreamreel.engine.live.web import is_loopback, reachable_address
from dreamreel.errors import UsageError

log = logging.getLogger("dreamreel.live")

READ, READ_WRITE, WRITE = 1, 3, 2  # OSCQuery ACCESS


def node(state: LiveState, name: str) -> dict[str, Any]:
    """One parameter as an OSCQuery node, with a `unit` child for the 0..1 form."""
    path = OSC_PREFIX + name
    if name in BUTTONS:
        return {"FULL_PATH": path, "TYPE": "N", "ACCESS": WRITE, "DESCRIPTION": f"press: {name}"}
    if name in state.commands:
        return {"FULL_PATH": path, "TYPE": "s", "ACCESS": WRITE, "DESCRIPTION": f"command: {name}"}
    value = state.value(name)
    steps = state.steps(name)
    entry = state.entries.get(name)
    description = entry.knob.help if entry is not None else f"the show's {name}"
    out: dict[str, Any] = {"FULL_PATH": path, "ACCESS": READ_WRITE, "DESCRIPTION": description}
    if name in SWITCHES or isinstance(value, bool):
        out.update(TYPE="i", VALUE=[int(bool(value))], RANGE=[{"MIN": 0, "MAX": 1}])
    elif steps:
        out.update(TYPE="s", VALUE=[str(value)], RANGE=[{"VALS": list(steps)}])
    elif isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _span(state, name)
        out.update(TYPE="i" if isinstance(value, int) else "f", VALUE=[value])
        if low is not None:
            out["RANGE"] = [{"MIN": low, "MAX": high}]
    else:
        text = ",".join(map(str, value)) if isinstance(value, tuple) else value
        out.update(TYPE="s", VALUE=["" if text is None else str(text)])
    unit = state.unit(name, value)
    if unit is not None:
        out["CONTENTS"] = {UNIT[1:]: {"FULL_PATH": path + UNIT, "TYPE": "f", "ACCESS": READ_WRITE,
                                      "VALUE": [unit], "RANGE": [{"MIN": 0.0, "MAX": 1.0}],
                                      "DESCRIPTION": f"{name} as 0..1 over its range"}}
    return out


def _span(state: LiveState, name: str) -> tuple[float | None, float | None]:
    if name in ("strength", "temporal", "wet"):
        return 0.0, 1.0
    if name == "crossfade":
        return 0.0, MAX_CROSSFADE
    entry = state.entries.get(name)
    if entry is None:
        return None, None
    return entry.knob.low, entry.knob.high


def tree(state: LiveState) -> dict[str, Any]:
    """The whole namespace: / -> /dreamreel -> one node a parameter."""
    names = [*state.names, *BUTTONS]
    contents = {name: node(state, name) for name in dict.fromkeys(names)}
    return {"FULL_PATH": "/", "ACCESS": 0, "CONTENTS": {
        OSC_PREFIX.strip("/"): {"FULL_PATH": OSC_PREFIX.rstrip("/"), "ACCESS": 0,
                                "CONTENTS": contents}}}


def find(root: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The node at `path` ("/dreamreel/strength/unit"), or None."""
    here = root
    for part in [p for p in path.split("/") if p]:
        here = here.get("CONTENTS", {}).get(part)
        if here is None:
            return None
    return here


class OscQuery:
    """The HTTP side on a thread of its own, and the zeroconf adverts when zeroconf is there."""

    def __init__(self, state: LiveState, port: int, osc_port: int, host: str = "127.0.0.1",
                 name: str = "dreamreel") -> None:
        self.state, self.osc_port, self.name = state, osc_port, name
        info = {"NAME": name, "OSC_PORT": osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "TYPE": True,
                               "DESCRIPTION": True}}
        handler = type("Handler", (_Handler,), {"query": self, "host_info": info})
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            raise UsageError(f"--oscquery {port}: cannot listen on {host}:{port} "
                             f"({err.strerror})") from err
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = host
        self._thread = threading.Thread(target=self._server.serve_forever, name="oscquery",
                                        daemon=True)
        self._zeroconf = None

    def start(self) -> OscQuery:
        self._thread.start()
        self._advertise()
        return self

    def stop(self) -> None:
        if self._zeroconf is not None:
            self._zeroconf.unregister_all_services()
            self._zeroconf.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _advertise(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf
        except ImportError:
            log.warning("OSCQuery on port %d is not advertised: pip install 'dreamreel[discovery]' "
                        "(zeroconf, LGPL) for VDMX, Chataigne and TouchDesigner to find it",
                        self.port)
            return
        local = is_loopback(self.host)  # then the adverts stay on loopback too
        address = "127.0.0.1" if local else (
            reachable_address() if self.host in ("0.0.0.0", "") else self.host)
        zeroconf = Zeroconf(interfaces=[address]) if local else Zeroconf()
        for kind, port in (("_oscjson._tcp.local.", self.port), ("_osc._udp.local.", self.osc_port)):
            zeroconf.register_service(ServiceInfo(
                kind, f"{self.name}.{kind}", port=port, addresses=[socket.inet_aton(address)],
                server=f"{socket.gethostname()}.local."))
        self._zeroconf = zeroconf


class _Handler(BaseHTTPRequestHandler):
    query: OscQuery
    host_info: dict[str, Any]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        split = urlsplit(self.path)
        attribute = split.query.upper()
        if attribute == "HOST_INFO":
            return self._send(self.host_info)
        found = find(tree(self.query.state), unquote(split.path))
        if found is None:
            return self._send({"error": f"no node {split.path}"}, HTTPStatus.NOT_FOUND)
        if attribute and attribute not in found:
            return self._send(None, HTTPStatus.NO_CONTENT)
        return self._send({attribute: found[attribute]} if attribute else found)

    def _send(self, body: dict[str, Any] | None, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: a show's terminal
        pass
