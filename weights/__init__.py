"""Pretrained networks: a checked manifest, fetching, verification and conversion to arrays."""

from dreamreel.errors import ChecksumError, UnsafeCheckpointError, WeightsError
from dreamreel.weights.derived import computed
from dreamreel.weights.manifest import Network, get, home, networks
from dreamreel.weights.store import (
    converted,
    fetch,
    load,
    repair,
    source_path,
    stray_files,
    verify,
)

__all__ = [
    "ChecksumError",
    "Network",
    "UnsafeCheckpointError",
    "WeightsError",
    "computed",
    "converted",
    "fetch",
    "get",
    "home",
    "load",
    "networks",
    "repair",
    "source_path",
    "stray_files",
    "verify",
]
