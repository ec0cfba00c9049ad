"""`dreamreel run --ray`: a film in chunks on a real local Ray, against the single-machine run.

The film is made from the real clips (benchmarks/cluster_film.py): three 24-frame scenes with
scene cuts at frames 24 and 48, a keyframe every 12 frames and Big Buck Bunny's AAC sound.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import cli, media

ray = pytest.importorskip("ray", reason="Ray is missing: pip install 'dreamreel[cluster]'")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cluster_film import make_film  # noqa: E402

from dreamreel.engine.cluster import ClusterOptions  # noqa: E402
from dreamreel.engine.cluster.plan import DEFAULT_WARMUP  # noqa: E402
from dreamreel.engine.job import RunSpec, stylize  # noqa: E402
from dreamreel.engine.sources import open_source  # noqa: E402
from dreamreel.engine.two_way import BLOCK, LOOKAHEAD  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    media("audio/bbb_14s-19s_h264_aac.mp4")  # the clips it is made of (a skip names them)
    return make_film(tmp_path_factory.mktemp("film") / "film.mp4")


@pytest.fixture(scope="module")
def local_ray():
    """A Ray of this machine: two cores, a small object store, no dashboard."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
             log_to_driver=False)
    yield
    ray.shutdown()


def frames(path: Path) -> list[np.ndarray]:
    with open_source(path) as source:
        return [f.image for f in source]


def timeline(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, bytes]]]:
    """Every video frame's (pts, duration) as decoded, and every audio packet."""
    with av.open(str(path)) as container:
        video = [(f.pts, f.duration) for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = [(p.pts, bytes(p)) for p in container.demux(audio=0) if p.size]
    return video, audio


def test_chunks_that_begin_at_cuts_match_the_single_run_pixel_for_pixel(film, local_ray,
                                                                         tmp_path):
    """A worker of two cores, as the single run here has: TensorFlow's sums follow the
    thread count (two one-core workers are tested against each other in the fault test)."""
    single, spread = tmp_path / "single", tmp_path / "spread"
    stylize(RunSpec.make(film, single, "style", style="7"))
    stats = stylize(RunSpec.make(film, spread, "style", style="7",
                                 ray=ClusterOptions(workers=1, worker_cpus=2, chunk=1.0)))
    chunks = stats.summary["chunks"]
    assert [(c["lo"], c["hi"], c["edge"], c["warm"]) for c in chunks] == [
        (0, 24, "start", 0), (24, 48, "cut", 24), (48, 72, "cut", 48)]
    ours, theirs = frames(spread), frames(single)
    assert len(ours) == len(theirs) == 72
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert not (tmp_path / "spread.parts").exists()  # the parts go once the output is whole


def test_cli_mp4_keeps_every_frame_timestamp_and_the_sound(film, local_ray, tmp_path):
    single, spread = tmp_path / "single.mp4", tmp_path / "spread.mp4"
    # Lossless H.264, so the pictures compare exactly: with loss each chunk's encode would
    # have its own rate control, a difference as large as the encoding error itself.
    assert cli("run", film, "-o", single, "--quiet", "--crf", "0").returncode == 0
    ran = cli("run", film, "-o", spread, "--ray", "--workers", "2", "--chunk", "1", "--json",
              "--crf", "0")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["frames"] == 72 and summary["workers"] == 2
    assert all(c["seconds"] > 0 and ":" in c["worker"] and c["tries"] == 1
               for c in summary["chunks"])
    assert "chunk 3/3 (frames 48..71, cut)" in ran.stderr
    video, audio = timeline(spread)
    assert len(video) == 72
    assert (video, audio) == timeline(single)
    assert len(audio) > 100  # three seconds of AAC, copied once
    differences = [np.abs(a.astype(np.int16) - b).mean()
                   for a, b in zip(frames(spread), frames(single), strict=True)]
    assert max(differences) < 0.5  # the same pictures (neighbouring frames differ by ~4)


def test_warmup_carries_the_stabiliser_across_an_edge_away_from_a_cut(local_ray, tmp_path):
    steady = make_film(tmp_path / "steady.mp4", (48,), gop=12,
                       clips=("color/cockatoo_yuv420.mp4",))
    # one way: the forward stabiliser's warm-up alone (two-way chunks: the test below)
    stylize(RunSpec.make(steady, tmp_path / "single", "style", style="7", two_way=False))
    single = frames(tmp_path / "single")
    at_edge = {}
    for warmup in (0, DEFAULT_WARMUP):
        out = tmp_path / f"k{warmup}"
        stats = stylize(RunSpec.make(steady, out, "style", style="7", two_way=False,
                                     ray=ClusterOptions(
            workers=1, worker_cpus=2, chunk=1.0, warmup=warmup)))
        edge = stats.summary["chunks"][1]
        assert (edge["lo"], edge["edge"], edge["warm"]) == (24, "keyframe", 24 - warmup)
        ours = frames(out)
        at_edge[warmup] = np.abs(ours[24].astype(np.int16) - single[24]).mean()
        assert all(np.array_equal(a, b) for a, b in zip(ours[:24], single[:24], strict=True))
    assert at_edge[DEFAULT_WARMUP] < at_edge[0] / 2, at_edge


def test_two_way_chunks_match_the_single_run_between_cuts_and_render_past_their_ends(
        local_ray, tmp_path):
    """Two-way stabilisation pulls each frame toward the ones after it, so a chunk renders
    frames beyond its end and drops them. One worker of two cores, as in the pixel-for-pixel
    test above. Scenes of 40, 24 and 24 frames: edges at the keyframe 24 and the cuts 40, 64."""
    film = make_film(tmp_path / "film.mp4", (40, 24, 24), gop=12,
                     clips=("color/cockatoo_yuv420.mp4", "film/chaplin_silent.mp4",
                            "audio/bbb_14s-19s_h264_aac.mp4"))
    for name, two_way in (("one", False), ("two", True)):
        stylize(RunSpec.make(film, tmp_path / name, "style", style="7", two_way=two_way))
    stats = stylize(RunSpec.make(film, tmp_path / "spread", "style", style="7", two_way=True,
                                 ray=ClusterOptions(workers=1, worker_cpus=2, chunk=1.0)))
    assert [(c["lo"], c["hi"], c["edge"], c["warm"], c["until"])
            for c in stats.summary["chunks"]] == [
        (0, 24, "start", 0, 24 + LOOKAHEAD), (24, 40, "keyframe", 8, 40 + LOOKAHEAD),
        (40, 64, "cut", 40, 64 + LOOKAHEAD), (64, 88, "cut", 64, 88)]
    assert stats.summary["two_way"]
    spread, single, one_way = (frames(tmp_path / name) for name in ("spread", "two", "one"))
    assert len(spread) == len(single) == 88
    # the first block (smoothed from the same frame), and the scenes between cuts: exact
    assert all(np.array_equal(spread[i], single[i]) for i in [*range(BLOCK), *range(40, 88)])

    def apart(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(np.int16) - b).mean())

    # chunk 0's last frame, smoothed toward frames of chunk 1 it rendered, is the single
    # run's to within rounding; without them it would be the one-way result
    assert apart(spread[23], single[23]) < 0.05 * apart(one_way[23], single[23])


def test_a_stop_keeps_finished_chunks_and_the_same_command_renders_only_the_rest(film,
                                                                                 local_ray,
                                                                                 tmp_path):
    """The command in a process of its own, joining the running Ray by its address (as a
    user joins a cluster), stopped by SIGTERM after its first chunk (Ray sets a handler of its
    own for it: TERM must still behave as Ctrl-C)."""
    out, parts = tmp_path / "out.mp4", tmp_path / "parts"
    address = ray.get_runtime_context().gcs_address
    command = [str(Path(sys.executable).with_name("dreamreel")), "run", str(film), "-o",
               str(out), "--ray", address, "--workers", "1", "--chunk", "1", "--checkpoint",
               str(parts), "--json"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not list(parts.glob("chunk_*.mp4")) and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 143, err
    kept = sorted(p.name for p in parts.glob("chunk_*.mp4"))
    assert 1 <= len(kept) < 3 and not out.exists()
    assert "finished chunk(s) are kept" in err
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {len(kept)} of 3 chunks" in again.stderr
    chunks = json.loads(again.stdout)["chunks"]
    assert sum("worker" in c for c in chunks) == 3 - len(kept)  # only the missing rendered
    assert len(timeline(out)[0]) == 72


def test_mkv_of_a_trimmed_range_keeps_its_timestamps_sound_and_chroma(film, local_ray, tmp_path):
    """Matroska counts time in milliseconds, not in the source's ticks; every chunk is
    encoded with the colour resolution asked for."""
    single, spread = tmp_path / "single.mkv", tmp_path / "spread.mkv"
    trim = ("--start", "0.5", "--duration", "2", "--chroma", "444")
    assert cli("run", film, "-o", single, *trim, "--quiet").returncode == 0
    ran = cli("run", film, "-o", spread, *trim, "--ray", "--chunk", "0.6", "--quiet")
    assert ran.returncode == 0, ran.stderr
    with av.open(str(spread)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"
    (video, audio), (their_video, their_audio) = timeline(spread), timeline(single)
    assert len(video) == 48 and video[0][0] == 0
    assert [pts for pts, _ in video] == [pts for pts, _ in their_video] and audio == their_audio
    # a frame's shown time rounds to 41 or 42 ms (1/24 s) by the way it reached the muxer
    assert all(abs(a - b) <= 1 for (_, a), (_, b) in zip(video, their_video, strict=True))


def test_without_ray_installed_the_run_says_how_to_get_it(film, tmp_path, monkeypatch):
    """Ray cannot be uninstalled under the suite: a None in sys.modules makes its import
    fail as a missing package's does (a stand-in, for that fault only)."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "dreamreel.engine.cluster.driver", raising=False)
    ran = cli("run", film, "-o", tmp_path / "out.mp4", "--ray")
    assert ran.returncode == 2 and "pip install 'dreamreel[cluster]'" in ran.stderr
    assert ran.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, says", [
    (["-o", "{tmp}/out.gif", "--ray"], "--ray cannot make a GIF"),
    (["-o", "{tmp}/out.mp4", "--ray", "--fps", "12"], "--fps is for a run without it"),
    (["-o", "{tmp}/out.mp4", "--ray", "--pipeline", "autoencoder"], "learns from the whole clip"),
    (["-o", "{tmp}/out/", "--ray", "--montage"], "not a montage"),
    (["-o", "{tmp}/out.mp4", "--workers", "2"], "--workers, --warmup and --chunk are for --ray"),
    (["-o", "{tmp}/out.mp4", "--ray", "--workers", "0"], "--workers must be at least 1"),
    (["-o", "{tmp}/out.mp4", "--ray", "127.0.0.1:1"], "nothing answers there"),
])
def test_what_ray_cannot_do_is_refused_in_one_line(film, tmp_path, args, says):
    ran = cli("run", film, *[a.format(tmp=tmp_path) for a in args])
    assert ran.returncode == 2 and says in ran.stderr
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    assert list(tmp_path.iterdir()) == []


def test_plan_prefers_cuts_then_keyframes_and_warms_up_from_a_cut_when_one_is_near():
    from dreamreel.engine.cluster.plan import chunks

    def shape(plan):
        return [(c.lo, c.hi, c.edge, c.warm) for c in plan]

    assert shape(chunks(300, 100, [95, 230], [96, 192, 240], 16)) == [
        (0, 95, "start", 0), (95, 230, "cut", 95), (230, 300, "cut", 230)]
    assert shape(chunks(300, 100, [], [48, 96, 144, 192, 240], 16)) == [
        (0, 96, "start", 0), (96, 192, "keyframe", 80), (192, 300, "keyframe", 176)]
    # a cut 7 frames before the keyframe edge: the warm-up starts there, exactly
    assert shape(chunks(200, 100, [45], [52], 16)) == [
        (0, 52, "start", 0), (52, 200, "keyframe", 45)]
    assert shape(chunks(200, 100, [], [], 16)) == [(0, 100, "start", 0), (100, 200, "frame", 84)]
    assert shape(chunks(200, 100, [], [], 16, exact=True))[1] == (100, 200, "frame", 100)


def test_plan_for_two_way_renders_past_each_end():
    from dreamreel.engine.cluster.plan import chunks

    def ends(plan):
        return [(c.hi, c.until) for c in plan]

    assert ends(chunks(200, 100, [], [], 16)) == [(100, 100), (200, 200)]
    assert ends(chunks(200, 100, [], [], 16, warmdown=8)) == [(100, 108), (200, 200)]
    # past a cut too: whether frames across it are smoothed together is the backward
    # pass's own cut test, as in a single run
    assert ends(chunks(300, 100, [95, 230], [], 16, warmdown=8)) == [(95, 103), (230, 238),
                                                                     (300, 300)]


def test_keyframes_a_fresh_decoder_cannot_start_from_are_not_chunk_starts():
    """cockatoo.mp4 (H.264 4:4:4) flags IDR frames at 76 and 145 that decode with errors
    without the frames before them: a chunk starting there would be garbage."""
    from dreamreel.engine.cluster.packets import scan

    clip = media("color/cockatoo.mp4")
    with av.open(str(clip)) as container:
        flagged = sum(p.is_keyframe for p in container.demux(video=0) if p.size)
    with open_source(clip) as source:
        index = scan(source.info)
    assert flagged == 3 and index.access == [0] and index.frames == 280
    with open_source(media("color/cockatoo_yuv420.mp4")) as source:
        assert scan(source.info).access == [0, 76, 145, 156, 160]


def test_a_feedback_dream_in_chunks_is_the_single_run_pixel_for_pixel(local_ray, tmp_path):
    """The dream carries its past from frame to frame and draws its jitter per frame: keyed
    by the frame's index, each chunk dreams what the single run dreams there. One worker of
    two cores, as the single run here has: TensorFlow's sums follow the thread count, and a
    feedback dream grows that rounding."""
    short = make_film(tmp_path / "short.mp4", (12, 12))
    values = {"layer": "block3_conv3", "steps": 2, "octaves": 2}
    stylize(RunSpec.make(short, tmp_path / "single", "dream", **values))
    stats = stylize(RunSpec.make(short, tmp_path / "spread", "dream", **values,
                                 ray=ClusterOptions(workers=1, worker_cpus=2, chunk=0.5)))
    assert [c["edge"] for c in stats.summary["chunks"]] == ["start", "cut"]
    ours, theirs = frames(tmp_path / "spread"), frames(tmp_path / "single")
    assert len(ours) == 24 and all(np.array_equal(a, b) for a, b in zip(ours, theirs,
                                                                          strict=True))
