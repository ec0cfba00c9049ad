"""Read a PyTorch zip checkpoint without torch, and without running any code it contains.

A `.pth` written by `torch.save` is a zip: `<root>/data.pkl` is a pickle whose tensors point
by key to raw little-endian storages `<root>/data/<key>`. A plain `pickle.load` would import
and call whatever the pickle names, so this unpickler accepts exactly the few globals a state
dict needs (tensor rebuilds, storage types, OrderedDict) and refuses everything else.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from dreamreel.errors import UnsafeCheckpointError, WeightsError

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands for `torch.XStorage` in the pickle: only its dtype matters."""

    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor(storage, offset, size, stride, *_ignored) -> np.ndarray:
    """`torch._utils._rebuild_tensor_v2` as NumPy: a strided view copied out of the storage."""
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    itemsize = storage.dtype.itemsize
    end = offset + 1 + sum((s - 1) * st for s, st in zip(size, stride, strict=True))
    if end > storage.size:
        raise WeightsError("checkpoint tensor reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(st * itemsize for st in stride)
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, *_ignored) -> np.ndarray:
    return data


ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive, self._root = archive, root

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"checkpoint refused: it asks to load '{module}.{name}', which is not a tensor, "
            "storage or OrderedDict (a checkpoint that runs code is never loaded)"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"checkpoint refused: unexpected persistent id {pid!r}")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError("checkpoint refused: storage of an unknown type")
        try:
            raw = self._archive.read(f"{self._root}/data/{key}")
        except KeyError as exc:
            raise WeightsError(f"checkpoint is missing storage '{key}'") from exc
        return np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder("<"))


def read_state_dict(path: Path) -> dict:
    """The checkpoint's top-level object (a dict of NumPy arrays or of such dicts)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"{path}: not a PyTorch zip checkpoint ({exc})") from exc
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise WeightsError(
                f"{path}: expected one */data.pkl in the checkpoint, found {len(pickles)}"
            )
        root = pickles[0].rsplit("/", 1)[0]
        byteorder = f"{root}/byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise WeightsError(f"{path}: big-endian checkpoints are not supported")
        try:
            state = _RestrictedUnpickler(archive.read(pickles[0]), archive, root).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            if isinstance(exc, WeightsError):
                raise
            raise WeightsError(f"{path}: damaged checkpoint pickle ({exc})") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: checkpoint holds a {type(state).__name__}, not a state dict")
    return state
