"""Ableton Link: the show's beat clock and another Link peer share tempo and beat.

Both peers live in one process inside a private network namespace (`unshare -n`, loopback up
with multicast routed to it), so Link's discovery never leaves the machine. CI runs as root.
"""

from __future__ import annotations

import pytest
from conftest import in_private_network

PEERS = r"""
import json, time, link
from dreamreel.engine.music.link import LinkSession, QUANTUM
from dreamreel.engine.music.live import BeatClock

ours = BeatClock(120.0, link=LinkSession(120.0))
peer = link.Link(90.0)
peer.enabled = True
began = time.perf_counter()
while (ours.link.peers == 0 or peer.numPeers() == 0) and time.perf_counter() - began < 10:
    time.sleep(0.05)
found = {"peers": ours.link.peers, "seconds_to_meet": round(time.perf_counter() - began, 2)}

state = peer.captureSessionState()  # the peer (Live, Resolume...) sets 133 BPM
state.setTempo(133.0, peer.clock().micros())
peer.commitSessionState(state)
time.sleep(0.5)
found["ours_after_peer"] = ours.bpm
found["source"] = ours.source

t0 = time.perf_counter()  # the performer taps 100 BPM on our side
for k in range(4):
    ours.tap(t0 + 0.6 * k)
time.sleep(0.5)
found["peer_after_tap"] = peer.captureSessionState().tempo()

now = time.perf_counter()
theirs = peer.captureSessionState().beatAtTime(peer.clock().micros(), QUANTUM)
found["beat_gap"] = abs(((ours.position(now) - theirs) + 2) % 4 - 2)
ours.link.close()
print(json.dumps(found))
"""


def test_link_peers_share_tempo_and_beat() -> None:
    pytest.importorskip("link", reason="LinkPython-extern (the link extra, GPL) is not installed")
    found = in_private_network(PEERS, timeout=60)
    assert found["peers"] == 1, found
    assert abs(found["ours_after_peer"] - 133.0) < 0.01 and found["source"].startswith("Link")
    assert abs(found["peer_after_tap"] - 100.0) < 0.01
    assert found["beat_gap"] < 0.02, found
