"""Pretrained networks: a checked manifest, fetching, verification and conversion to arrays."""

from dreamreel.errors import ChecksumError, UnsafeCheckpointError, WeightsError
from dreamreel.weights.manifest import Network, get, home, networks
from dreamreel.weights.store import converted, fetch, load, source_path, verify

__all__ = [
    "ChecksumError",
    "Network",
    "UnsafeCheckpointError",
    "WeightsError",
    "converted",
    "fetch",
    "get",
    "home",
    "load",
    "networks",
    "source_path",
    "verify",
]
