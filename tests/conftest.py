"""Shared fixtures: the real media beside the project, and a quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def media(relative: str) -> Path:
    """A file from ../shared/media, or skip the test with the reason."""
    path = MEDIA / relative
    if not path.is_file():
        pytest.skip(f"real media missing: {path} (see ../shared/media/SOURCES.md)")
    return path


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights cache, for tests that must not touch the user's."""
    home = tmp_path / "home"
    monkeypatch.setenv("DREAMREEL_HOME", str(home))
    return home


def audio_facts(path: Path) -> dict[str, object]:
    """The first audio stream's codec and length in seconds ({} when there is none)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return {}
        audio = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(audio))
        return {"audio_codec": audio.codec_context.codec.canonical_name,
                "audio_seconds": samples / audio.codec_context.sample_rate}
