"""Shared fixtures: the real media beside the project, and a quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

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
