"""`dreamreel demo`, `dreamreel styles` (the contact sheet) and `dreamreel metrics --plot` as a
user runs them: what they make, and that they never lose a file (exit 2, one line, nothing
changed) when told to write somewhere they must not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import media
from run_helpers import (
    check_refused_in_one_line,
    dreamreel,
    mean_abs_diff,
    probe,
    read_rgb,
    snapshot,
)

# --------------------------------------------------------------------------------------------
# demo and styles


@pytest.mark.slow
def test_demo_makes_source_styled_and_before_after(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = dreamreel("demo", "-o", out, "-y")  # as the README's first command runs it
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["before_after.png", "source.mp4", "styled.mp4"]
    source, styled = probe(out / "source.mp4"), probe(out / "styled.mp4")
    assert styled["count"] == source["count"] > 0
    assert styled["size"] == source["size"]
    assert styled["times"] == pytest.approx(source["times"], abs=1e-6)
    assert styled["audio_codec"] == "aac"
    assert styled["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=0.05)
    width, height = source["size"]
    pair = read_rgb(out / "before_after.png")
    assert pair.shape == (height, 2 * width, 3)
    assert mean_abs_diff(pair[:, :width], pair[:, width:]) > 10
    # run again without -y: the first demo's files stay as they were
    first = snapshot(out)
    again = dreamreel("demo", "-o", out)
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "-y (--overwrite)" in again.stderr
    assert snapshot(out) == first


def test_styles_contact_sheet(tmp_path: Path) -> None:
    photo = media("content/coffee.png")  # 600x400: tiles of 96x64 at --size 64
    sheet = tmp_path / "sheet.png"
    sheet.write_bytes(b"yesterday's sheet")  # -y replaces it
    result = dreamreel("styles", photo, "-o", sheet, "--size", 64, "--offline", "-y")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]  # no hidden partial left
    image = read_rgb(sheet)
    # the source and 26 styles = 27 tiles, 7 per row: 4 rows (the last padded)
    assert image.shape == (4 * 64, 7 * 96, 3)
    tiles = [image[r * 64 : (r + 1) * 64, c * 96 : (c + 1) * 96] for r in range(4) for c in range(7)]
    assert mean_abs_diff(tiles[1], tiles[2]) > 5  # style 0 and style 1 differ
    assert tiles[-1].max() == 0  # padding


def test_a_contact_sheet_of_the_kernels_and_of_the_layers(tmp_path: Path) -> None:
    """`--pipeline kernels` lays out every kernel (the blur tile is OpenCV's blur of the
    source tile), `--pipeline layers` the layers a show steps through."""
    photo = media("content/coffee.png")  # 600x400: tiles of 96x64 at --size 64
    sheet = tmp_path / "kernels.png"
    result = dreamreel("styles", photo, "-o", sheet, "--size", 64, "--offline", "--pipeline",
                       "kernels")
    assert result.returncode == 0, result.stderr
    assert "kernels with kernel blur, sharpen, emboss, sobel, laplacian, gabor, gabor_bank" in (
        result.stderr)
    image = read_rgb(sheet)
    assert image.shape == (2 * 64, 7 * 96, 3)  # the source and 7 kernels: 8 tiles
    source, blur = image[:64, :96].astype(np.float32), image[:64, 96:192]
    g = cv2.getGaussianKernel(15, 3.0)
    below = np.s_[32:]  # under the tile's label
    assert mean_abs_diff(blur[below], cv2.filter2D(source, -1, g @ g.T)[below]) < 1.0
    assert mean_abs_diff(blur[below], source[below]) > 3  # blurred, not the source again
    sheet = tmp_path / "layers.png"
    result = dreamreel("styles", photo, "-o", sheet, "--size", 64, "--offline", "--pipeline",
                       "layers")
    assert result.returncode == 0, result.stderr
    shown = result.stderr.split("with vgg_layer ")[1].strip().split(", ")
    assert "block3_conv3" in shown and len(shown) >= 5, shown
    assert read_rgb(sheet).shape[0] == -(-(1 + len(shown)) // 7) * 64


# --------------------------------------------------------------------------------------------
# styles, demo and metrics never lose a file: exit 2, one line, nothing changed


def _refusal_cases(root: Path) -> dict[str, tuple[list[object], Path, str]]:
    """name -> (command line, folder to watch, text the error must contain). Each folder holds
    cat.png (a real picture, the input) and the `old` files (an earlier run's output)."""
    gif = media("film/chaplin_3s.gif")
    cases: dict[str, tuple[list[object], Path, str]] = {}

    def case(name: str, expect: str, command, old: tuple[str, ...] = ()) -> None:
        folder = root / name
        folder.mkdir()
        shutil.copy(media("content/chelsea_cat.png"), folder / "cat.png")
        for file in old:
            (folder / file).write_bytes(b"yesterday's " + file.encode())
        cases[name] = (command(folder), folder, expect)

    def styles(output: str, *args: object):
        return lambda f: ["styles", f / "cat.png", "-o", f / output, "--size", 64, "--offline", *args]

    def plot(output: str):
        return lambda f: ["metrics", gif, gif, "--plot", f / output]

    case("styles_output_is_input", "overwrite the input", styles("cat.png", "-y"))
    case("styles_existing_output", "-y (--overwrite)", styles("s.png"), old=("s.png",))
    case("styles_missing_folder", "does not exist", styles("nodir/s.png"))
    case("styles_size_0", "--size", styles("s.png", "--size", 0))
    case("demo_into_a_file", "not a folder", lambda f: ["demo", "-o", f / "a.mp4"], old=("a.mp4",))
    case("demo_in_proc", "/proc/nope", lambda f: ["demo", "-o", "/proc/nope"])
    case("demo_earlier_demo", "-y (--overwrite)", lambda f: ["demo", "-o", f],
         old=("source.mp4", "styled.mp4", "before_after.png"))
    case("metrics_plot_txt", "--plot", plot("p.txt"))
    case("metrics_plot_mp4", "--plot", plot("p.mp4"))
    case("metrics_existing_plot", "-y (--overwrite)", plot("p.png"), old=("p.png",))
    return cases


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """name -> (result, folder, expected text, the folder before), three runs at a time."""
    cases = _refusal_cases(tmp_path_factory.mktemp("refusals"))
    before = {name: snapshot(folder) for name, (_, folder, _) in cases.items()}
    results = [dreamreel(*case[0]) for case in cases.values()]
    return {name: (result, folder, expect, before[name])
            for (name, (_, folder, expect)), result in zip(cases.items(), results, strict=True)}


@pytest.mark.parametrize("name", [
    "styles_output_is_input", "styles_existing_output", "styles_missing_folder", "styles_size_0",
    "demo_into_a_file", "demo_in_proc", "demo_earlier_demo",
    "metrics_plot_txt", "metrics_plot_mp4", "metrics_existing_plot",
])
def test_styles_demo_metrics_refuse_in_one_line_and_change_nothing(refusals: dict, name: str) -> None:
    check_refused_in_one_line(refusals, name)  # the same checks as `run` (test_run_errors.py)


def test_metrics_plot_replaces_an_old_plot_with_y(tmp_path: Path) -> None:
    gif = media("film/chaplin_3s.gif")
    plot = tmp_path / "flicker.pdf"
    plot.write_bytes(b"yesterday's plot")
    result = dreamreel("metrics", gif, gif, "--plot", plot, "-y")
    assert result.returncode == 0, result.stderr
    assert plot.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir()] == ["flicker.pdf"]  # no hidden partial left
