"""NDI in and out (ndi-python, which bundles the NDI runtime): a layer can go Resolume ->
dreamreel -> Resolume, with the performer mask as alpha.

NDI finds sources by mDNS; `extra_ips` also asks 127.0.0.1 directly, so a sender and a receiver
on one machine meet even where multicast is closed (a private network namespace in the tests).
"""

from __future__ import annotations

import time
from types import ModuleType

import numpy as np

from dreamreel.engine.live.outputs import OutputUnavailable
from dreamreel.engine.media import Frame
from dreamreel.errors import MediaError

FIND_SECONDS = 5.0  # how long `--source ndi:NAME` and `--list-sources` look for sources
RECEIVE_SECONDS = 2.0  # a read waits this long for a frame before the capture counts a loss
CONNECT_SECONDS = 5.0  # the first read: the connection is still being made


def ndi_lib() -> ModuleType:
    """The NDI runtime, started (once per process)."""
    try:
        import NDIlib as ndi
    except ImportError as err:
        raise OutputUnavailable("NDI: pip install 'dreamreel[live]' (ndi-python bundles the NDI "
                             "runtime)") from err
    if not ndi.initialize():
        raise OutputUnavailable("NDI: the NDI runtime does not start on this CPU/OS "
                             "(see https://ndi.video/tools/)")
    return ndi


def _finder(ndi: ModuleType):
    settings = ndi.FindCreate()
    settings.show_local_sources = True
    settings.extra_ips = "127.0.0.1"
    return ndi.find_create_v2(settings)


def list_sources(seconds: float = FIND_SECONDS, until: str | None = None) -> list:
    """The NDI sources seen within `seconds` (sooner once one named `until` appears); each has
    `ndi_name`, "MACHINE (NAME)"."""
    ndi = ndi_lib()
    finder = _finder(ndi)
    try:
        deadline = time.monotonic() + seconds
        sources: list = []
        while time.monotonic() < deadline:
            ndi.find_wait_for_sources(finder, 250)
            sources = list(ndi.find_get_current_sources(finder))
            if until is not None and any(matches(s.ndi_name, until) for s in sources):
                break
        return sources
    finally:
        ndi.find_destroy(finder)


def matches(full: str, name: str) -> bool:
    """A source named NAME is "MACHINE (NAME)"; either form may be asked for."""
    return full == name or full.endswith(f"({name})")


class NdiReader:
    """`--source ndi:NAME` as a camera: RGB frames as the sender paces them."""

    fps = None  # the sender paces the frames

    def __init__(self, name: str) -> None:
        try:
            self._ndi = ndi = ndi_lib()
        except OutputUnavailable as err:
            raise MediaError(str(err)) from None
        found = [s for s in list_sources(until=name) if matches(s.ndi_name, name)]
        if not found:
            raise OSError(f"no NDI source named {name!r} (dreamreel live --list-sources)")
        settings = ndi.RecvCreateV3()
        settings.color_format = ndi.RECV_COLOR_FORMAT_BGRX_BGRA
        self._receiver = ndi.recv_create_v3(settings)
        if self._receiver is None:
            raise OSError(f"NDI: cannot receive from {name!r}")
        ndi.recv_connect(self._receiver, found[0])
        self._wait = CONNECT_SECONDS

    def read(self) -> np.ndarray | None:
        """The next video frame; status and metadata frames are passed over."""
        ndi = self._ndi
        deadline = time.monotonic() + self._wait
        while (left := deadline - time.monotonic()) > 0:
            kind, video, _, _ = ndi.recv_capture_v2(self._receiver, max(1, round(1000 * left)))
            if kind == ndi.FRAME_TYPE_VIDEO:
                self._wait = RECEIVE_SECONDS
                try:
                    return np.ascontiguousarray(video.data[..., 2::-1])  # BGRA -> RGB, copied
                finally:
                    ndi.recv_free_video_v2(self._receiver, video)
            if kind == ndi.FRAME_TYPE_ERROR:
                return None
        return None

    def close(self) -> None:
        self._ndi.recv_destroy(self._receiver)


class NdiSender:
    """An NDI source on the network, for vMix, OBS, Resolume...: RGB frames go out opaque,
    RGBA frames (a show with `--alpha`) with their alpha."""

    name = "NDI"
    alpha = True  # takes the show's RGBA picture when there is one

    def __init__(self, source_name: str) -> None:
        self._ndi = ndi = ndi_lib()
        settings = ndi.SendCreate()
        settings.ndi_name = source_name
        settings.clock_video = False  # the show paces the frames
        self._sender = ndi.send_create(settings)
        if self._sender is None:
            raise OutputUnavailable(f"NDI: cannot create the source '{source_name}'")
        self._frame = ndi.VideoFrameV2()
        self._frame.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBA

    def write(self, frame: Frame) -> None:
        image = frame.image
        rgba = np.empty((*image.shape[:2], 4), np.uint8)
        rgba[..., :3] = image[..., :3]
        rgba[..., 3] = image[..., 3] if image.shape[2] == 4 else 255
        self._frame.data = rgba
        self._ndi.send_send_video_v2(self._sender, self._frame)

    def close(self) -> None:
        self._ndi.send_destroy(self._sender)
