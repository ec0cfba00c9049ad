"""Errors a user can act on. They subclass builtins so callers may catch either."""


class WeightsError(RuntimeError):
    """A network cannot be provided: unknown, missing offline, or failed its checks."""


class ChecksumError(WeightsError, ValueError):
    """A file's sha256 or size differs from the manifest: it is refused and not cached."""


class UnsafeCheckpointError(WeightsError, ValueError):
    """A PyTorch checkpoint asks the unpickler for something other than tensors."""
