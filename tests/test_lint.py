"""The code stays ruff clean (the configuration lives in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_ruff_is_clean() -> None:
    beside_python = Path(sys.executable).parent / "ruff"  # the venv's, even when not activated
    ruff = str(beside_python) if beside_python.is_file() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([ruff, "check", "."], cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
