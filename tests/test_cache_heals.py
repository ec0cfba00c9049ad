"""A weights cache in any state ends in a working run or one line: damaged converted arrays
and sources are rebuilt from what is verified, `weights verify` finds and `--repair` fixes
every damaged file, a lock left by a killed process costs nothing, two processes converting
at once share one file, and a cache that cannot be written is one line.

Every cache here is a copy of the test run's real one (multistyle26: the style network).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_HOME, cli, media
from test_weights import _user_manifest, served  # noqa: F401  (a fixture)

from dreamreel import weights
from dreamreel.engine import tuning
from dreamreel.weights.integrity import checksum_path, read_arrays
from dreamreel.weights.store import converted_path

NET = "multistyle26"


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40  # inside an array's bytes
    path.write_bytes(bytes(data))


DAMAGE = {
    "flipped_byte": _flip,
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "folder_in_its_place": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.fixture
def home(isolated_home: Path) -> Path:
    """An isolated cache holding the run's verified source of the style network, converted."""
    net = weights.get(NET)
    source = TEST_HOME / "sources" / NET / net.filename
    (isolated_home / "sources" / NET).mkdir(parents=True)
    shutil.copy(source, isolated_home / "sources" / NET / net.filename)
    return isolated_home


def _reference() -> dict[str, np.ndarray]:
    """The style network's arrays in the test run's own cache."""
    return read_arrays(TEST_HOME / "converted" / converted_path(weights.get(NET)).name)


def _same(arrays: dict[str, np.ndarray]) -> bool:
    expected = _reference()
    return arrays.keys() == expected.keys() and all(
        np.array_equal(arrays[k], expected[k]) for k in arrays)


def _lines(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_converted_arrays_are_rebuilt_with_one_line(
    home: Path, damage: str, capsys: pytest.CaptureFixture
) -> None:
    weights.load(NET)  # converted, with its checksum beside it
    path = converted_path(weights.get(NET))
    assert checksum_path(path).is_file()
    capsys.readouterr()
    DAMAGE[damage](path)
    arrays = weights.load(NET)
    err = capsys.readouterr().err
    assert len(_lines(err, f"dreamreel: {NET}: the converted arrays in the cache are damaged")) == 1
    assert "rebuilding them from the verified source" in err
    assert _same(arrays)
    assert weights.verify(weights.get(NET)) == []


def test_a_run_over_a_damaged_cache_finishes_and_says_so_once(home: Path, tmp_path: Path) -> None:
    weights.load(NET)
    _flip(converted_path(weights.get(NET)))
    out = tmp_path / "out.mp4"
    result = cli("run", media("film/chaplin_3s.gif"), "-o", out, "--size", "64", "--offline",
                 "--preset", "ultrafast", "--duration", "0.5", "--backend", "tf", "--batch", "1")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(_lines(result.stderr, "are damaged")) == 1
    assert out.stat().st_size > 0


def test_a_damaged_source_is_fetched_again_before_converting(
    isolated_home: Path, served  # noqa: F811
) -> None:
    root, base = served
    data = (TEST_HOME / "sources" / NET / weights.get(NET).filename).read_bytes()
    (root / "net.onnx").write_bytes(data)
    _user_manifest(isolated_home, "mine", f"{base}/net.onnx", data, "onnx")
    net = weights.get("mine")
    weights.load("mine")
    _flip(weights.source_path(net))
    converted_path(net).unlink()
    offline = cli("weights", "fetch", "mine", "--offline")  # found, but cannot fetch it again
    assert offline.returncode == 2 and "Traceback" not in offline.stderr
    said, error = offline.stderr.strip().splitlines()
    assert "the cached source" in said and "is damaged" in said and "fetching it again" in said
    assert error.startswith("dreamreel: error: network 'mine' is not cached and --offline is set")
    fetched = cli("weights", "fetch", "mine")
    assert fetched.returncode == 0, fetched.stderr
    assert weights.source_path(net).read_bytes() == data


def test_verify_finds_every_damaged_file_and_repair_fixes_them(home: Path) -> None:
    weights.load(NET)
    path = converted_path(weights.get(NET))
    _flip(path)
    vector = weights.computed("style-vectors", b"a painting", lambda: np.arange(100.0))
    (home / "style-vectors").joinpath("0" * 32 + ".npz").write_bytes(b"PK\x03\x04 cut short")
    stale = home / "converted" / f"{NET}-000000000000-v1.npz"
    stale.write_bytes(b"an older converter's output")

    found = cli("weights", "verify")
    assert found.returncode == 2
    assert f"{NET}: DAMAGED: the converted arrays are damaged" in found.stdout
    assert "computed arrays and learned styles: 1 ok, 1 damaged" in found.stdout
    assert "stale files (older formats, leftovers): 1" in found.stdout
    assert "--repair" in found.stderr

    repaired = cli("weights", "verify", "--repair", "--offline")
    assert repaired.returncode == 0, repaired.stderr
    assert f"{NET}: repaired" in repaired.stdout
    assert not stale.exists()
    assert cli("weights", "verify").returncode == 0
    assert _same(weights.load(NET))
    again = weights.computed("style-vectors", b"a painting", lambda: pytest.fail("recomputed"))
    assert np.array_equal(again, vector)


def test_a_damaged_style_vector_is_computed_again(isolated_home: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    weights.computed("style-vectors", b"painting", lambda: np.ones(100))
    (cached,) = (isolated_home / "style-vectors").iterdir()
    _flip(cached)
    vector = weights.computed("style-vectors", b"painting", lambda: np.full(100, 2.0))
    assert np.array_equal(vector, np.full(100, 2.0))
    assert len(_lines(capsys.readouterr().err, "is damaged")) == 1


def _python(code: str, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DREAMREEL_HOME": str(home)})


def _hold_lock(home: Path, then: str) -> subprocess.Popen:
    lock = home / "locks" / f"{NET}.lock"
    return _python(f"import os, signal, time\nfrom filelock import FileLock\n"
                   f"lock = FileLock({str(lock)!r})\nlock.acquire()\nprint('held', flush=True)\n{then}\n", home)


def test_a_lock_left_by_a_killed_process_costs_nothing(home: Path) -> None:
    holder = _hold_lock(home, "os.kill(os.getpid(), signal.SIGKILL)")
    holder.communicate(timeout=60)
    assert holder.returncode == -9 and (home / "locks" / f"{NET}.lock").exists()
    started = time.monotonic()
    assert _same(weights.load(NET))
    assert time.monotonic() - started < 30


def test_a_lock_held_by_a_live_process_is_waited_for_and_said(
    home: Path, capsys: pytest.CaptureFixture
) -> None:
    holder = _hold_lock(home, "time.sleep(3)")
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    arrays = weights.load(NET)
    assert time.monotonic() - started > 1.5  # it waited for the holder
    holder.communicate(timeout=60)
    assert _same(arrays)
    assert "waiting for another dreamreel process" in capsys.readouterr().err


def test_two_processes_converting_at_once_share_one_file(home: Path) -> None:
    code = (f"from dreamreel import weights\n"
            f"print(sum(float(a.sum()) for a in weights.load({NET!r}).values()))\n")
    procs = [_python(code, home) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    assert sorted(p.name for p in (home / "converted").iterdir()) == sorted(
        [converted_path(weights.get(NET)).name, checksum_path(converted_path(weights.get(NET))).name])
    assert weights.verify(weights.get(NET)) == []


def test_a_cache_that_cannot_be_written_is_one_line(home: Path, tmp_path: Path) -> None:
    (home / "converted").write_text("a file where the cache wants a folder\n")
    out = tmp_path / "out.mp4"
    result = cli("run", media("film/chaplin_3s.gif"), "-o", out, "--size", "64", "--offline")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "weights cache" in result.stderr and "DREAMREEL_HOME" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["home"]  # no output, no temporary



@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """`folder` mounted read-only over itself (a shared cache on a read-only disk); root only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only cache needs root (CI runs as root)")
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_cache_serves_what_it_holds_and_refuses_the_rest_in_one_line(
    home: Path, capsys: pytest.CaptureFixture
) -> None:
    weights.load(NET)
    path = converted_path(weights.get(NET))
    checksum_path(path).unlink()  # as a cache written before checksums were kept
    trial = tuning.Trial(tuning.Choice("tf", "float32", False, 1), 10.0, 0.0, True)
    with _read_only(home):
        assert _same(weights.load(NET))  # read, checked, its record not writable: fine
        assert cli("weights", "verify").returncode == 0
        tuning._save("this machine", "style|frame|64px|/CPU:0|batches True", [trial])
    assert "cannot keep the measured choice" in capsys.readouterr().err
    _flip(path)
    with _read_only(home):
        result = cli("weights", "fetch", NET, "--offline")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    said, error = result.stderr.strip().splitlines()
    assert "are damaged" in said
    assert error.startswith("dreamreel: error: the weights cache") and "Read-only" in error
