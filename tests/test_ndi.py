"""NDI in and out with alpha: a stand-in for Resolume sends a clip as an NDI source,
`dreamreel live --source ndi:NAME --ndi NAME --alpha --mask person` paints it, and the
stand-in receives the result with the performer mask as alpha. The stand-in runs on a thread
of the show's own process: on a namespace's loopback, a process that already sends an NDI
source does not discover another process's.

Everything runs inside a private network namespace (`unshare -n`, loopback up), so NDI's
discovery and streams never leave the machine. CI runs as root.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import in_private_network
from run_helpers import probe
from test_mask import crossing_clip

MIXER = r"""
import json, sys, threading
import numpy as np, NDIlib as ndi
from dreamreel.engine.live.ndi import NdiSender, list_sources, matches
from dreamreel.engine.media import Frame
from dreamreel.engine.sources import open_source

found = {}
clip, cli = sys.argv[1], json.loads(sys.argv[2])
frames = [f.image for f in open_source(clip)]

# 1. A known RGBA picture through one sender and one receiver: alpha within one level and
# exact at 0 and 255, colour within the codec's error.
probe = NdiSender("probe")
rgba = np.zeros((64, 96, 4), np.uint8)
rgba[..., 0] = np.arange(96, dtype=np.uint8)[None] * 2
rgba[..., 1], rgba[..., 2] = 120, 30
rgba[..., 3] = np.arange(64 * 96).reshape(64, 96) % 256

def receiver(name):
    sources = [s for s in list_sources(until=name) if matches(s.ndi_name, name)]
    settings = ndi.RecvCreateV3()
    settings.color_format = ndi.RECV_COLOR_FORMAT_BGRX_BGRA
    recv = ndi.recv_create_v3(settings)
    ndi.recv_connect(recv, sources[0])
    return recv

def grab(recv, send=None, tries=100):
    for _ in range(tries):
        if send is not None:
            send()
        kind, video, _, _ = ndi.recv_capture_v2(recv, 100)
        if kind == ndi.FRAME_TYPE_VIDEO:
            bgra = video.data.copy()
            ndi.recv_free_video_v2(recv, video)
            return np.dstack([bgra[..., 2::-1], bgra[..., 3:]])
    return None

got = grab(receiver("probe"), lambda: probe.write(Frame(rgba, 0, 0.0)))
ends = (rgba[..., 3] == 0) | (rgba[..., 3] == 255)  # transparent and opaque
found["probe_alpha_ends_exact"] = bool(np.array_equal(got[..., 3][ends], rgba[..., 3][ends]))
found["probe_alpha_error"] = int(np.abs(got[..., 3].astype(int) - rgba[..., 3]).max())
found["probe_colour_error"] = float(np.abs(got[..., :3].astype(int) - rgba[..., :3]).mean())
probe.close()

# 2. The clip as "resolume" -> dreamreel live -> "dreamreel", with the performer as alpha: the
# mixer's side on a thread, the show on the main thread, as the CLI runs it.
shown = []
done = threading.Event()

def mixer():
    resolume = NdiSender("resolume")
    settings = ndi.FindCreate()
    settings.show_local_sources, settings.extra_ips = True, "127.0.0.1"
    finder = ndi.find_create_v2(settings)
    recv = None
    i = 0
    while not done.is_set():
        resolume.write(Frame(frames[i % len(frames)], i, i / 12))
        i += 1
        if recv is None:
            ndi.find_wait_for_sources(finder, 80)  # also the clip's pace
            ours = [s for s in ndi.find_get_current_sources(finder)
                    if matches(s.ndi_name, "dreamreel")]
            if ours:
                settings = ndi.RecvCreateV3()
                settings.color_format = ndi.RECV_COLOR_FORMAT_BGRX_BGRA
                recv = ndi.recv_create_v3(settings)
                ndi.recv_connect(recv, ours[0])
            continue
        picture = grab(recv, tries=1)  # waits up to 100 ms: about the clip's pace
        if picture is not None and len(shown) < 12:
            shown.append(picture)

thread = threading.Thread(target=mixer)
thread.start()
from dreamreel.engine.cli import main
try:
    found["show_exit"] = main(cli)
finally:
    done.set()
    thread.join()
found["frames"] = len(shown)
if shown:
    np.save(sys.argv[3], np.stack(shown))
print(json.dumps(found))
"""


def test_ndi_in_and_out_with_the_performer_as_alpha(tmp_path: Path) -> None:
    pytest.importorskip("NDIlib", reason="ndi-python (the live extra) is not installed")
    clip = crossing_clip(tmp_path / "crossing.mp4")
    cli = ["live", "--source", "ndi:resolume", "--ndi", "dreamreel", "--alpha", "--mask",
           "person", "--pipeline", "kernels", "--kernel", "sobel", "--size", "120",
           "--no-preview", "--duration", "25"]
    shown = tmp_path / "shown.npy"
    found = in_private_network(MIXER, clip, json.dumps(cli), shown, timeout=240)
    assert found["probe_alpha_ends_exact"], found  # fully transparent and opaque stay so
    assert found["probe_alpha_error"] <= 1, found  # NDI's alpha is 8 bits within one level
    assert found["probe_colour_error"] < 12, found  # NDI's 4:2:2 codec
    assert found["show_exit"] == 0, found["stderr"]
    assert found["frames"] >= 5, found["stderr"]
    pictures = np.load(shown)
    assert pictures.shape[1:] == (360, 640, 4)
    alpha = pictures[..., 3].astype(float)
    # The portrait fills the middle third of the bottom; the stage's top corners never hold it.
    corners = np.concatenate([alpha[:, :60, :60].ravel(), alpha[:, :60, -60:].ravel()])
    assert corners.mean() < 5, corners.mean()
    assert (alpha > 250).mean() > 0.1, (alpha > 250).mean()  # the performer, opaque
    # The RGB is the effect alone (Sobel edges: mostly dark), not the camera's picture.
    camera = probe(clip, frames=True)["images"].mean()
    assert pictures[..., :3].mean() < 0.6 * camera, (pictures[..., :3].mean(), camera)

