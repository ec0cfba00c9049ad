"""Still-image outputs: a folder of numbered PNGs, or one image file, turned upright since
image files cannot carry rotation metadata."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from dreamreel.engine.media import Frame, MediaInfo
from dreamreel.errors import MediaError

from .base import Sink
from .safety import temp_name

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


class _FolderSink(Sink):
    """A folder of frame_000000.png ...; written to a hidden folder, moved in on close."""

    def __init__(self, path: Path, info: MediaInfo, overwrite: bool = False) -> None:
        temp = temp_name(path)
        super().__init__(path, temp, overwrite)
        self._rotation = info.rotation
        try:
            temp.mkdir()
        except OSError as err:
            raise MediaError(f"{path}: cannot create the output folder ({err})") from err

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        _save_image(self._temp / f"frame_{self.frames_written:06d}.png", image, self._rotation)

    def adopt(self, part: Path, first_ticks: int | None = None) -> None:
        """Append the frames of `part`, a folder of this output's frames made elsewhere (a
        cluster worker), in name order, linked (or copied) in without decoding (the file
        names carry no time: `first_ticks` is not needed)."""
        for frame in sorted(part.glob("frame_*.png")):
            target = self._temp / f"frame_{self.frames_written:06d}.png"
            try:
                os.link(frame, target)
            except OSError:  # another filesystem, or one without hard links
                try:
                    shutil.copyfile(frame, target)
                except OSError as err:
                    raise self._error(f"join {part.name}", err) from err
            self.frames_written += 1

    def _publish(self) -> None:
        try:
            os.rename(self._temp, self.path)  # atomic where there is no folder or an empty one
            return
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        if not self.overwrite and any(self.path.glob("frame_*.png")):
            raise MediaError(f"{self.path}: another run wrote frames there meanwhile; use -y "
                             "(--overwrite) to replace them")
        for old in self.path.glob("frame_[0-9][0-9][0-9][0-9][0-9][0-9].png"):
            old.unlink()
        for new in sorted(self._temp.iterdir()):
            os.replace(new, self.path / new.name)
        self._temp.rmdir()


class _ImageSink(Sink):
    """One still image (the single frame of an image input)."""

    def __init__(self, path: Path, info: MediaInfo, overwrite: bool = False) -> None:
        super().__init__(path, temp_name(path), overwrite)
        self._rotation = info.rotation

    def _write(self, image: np.ndarray, frame: Frame) -> None:
        if self.frames_written:
            raise MediaError(
                f"{self.path}: an image output holds one frame; write to a folder or a video/GIF instead"
            )
        _save_image(self._temp, image, self._rotation, self.path.suffix)


def _save_image(path: Path, image: np.ndarray, rotation: int, ext: str = ".png") -> None:
    """Encode with OpenCV, turned upright (still images cannot carry rotation metadata)."""
    upright = np.rot90(image, rotation // 90)
    to_bgr = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(ext, cv2.cvtColor(np.ascontiguousarray(upright), to_bgr))
    if not ok:
        raise MediaError(f"{path}: OpenCV cannot encode a '{ext}' image")
    path.write_bytes(data.tobytes())
