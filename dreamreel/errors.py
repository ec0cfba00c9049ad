"""The errors dreamreel reports to its user, under one root.

Every error whose message is meant for a person (a bad command line, a setting an effect
rejects, a network that cannot be fetched, a file that cannot be read or written) is a
`DreamreelError`: the command line prints it in one line and exits 2, and Python callers can
catch the root or the builtin each one also is (a `SettingsError` is a `ValueError` too).
"""


class DreamreelError(Exception):
    """An error with a message for the user."""


class UsageError(DreamreelError, ValueError):
    """A request that cannot work (a command line, a job specification)."""


class SettingsError(DreamreelError, ValueError):
    """A setting an effect rejects: an unknown style or layer, a strength out of range."""


class WeightsError(DreamreelError, RuntimeError):
    """A network cannot be fetched, verified or converted."""


class ChecksumError(WeightsError, ValueError):
    """A file's sha256 or size differs from the manifest: it is refused and not cached."""


class UnsafeCheckpointError(WeightsError, ValueError):
    """A PyTorch checkpoint asks the unpickler for something other than tensors."""


class MediaError(DreamreelError, RuntimeError, ValueError):
    """A media file cannot be read or written; the message names the file and what is wrong."""
