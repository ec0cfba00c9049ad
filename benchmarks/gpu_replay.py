"""The effects' compiled graphs timed on a GPU that has no TensorFlow: XLA through jaxlib.

A lent GPU machine may reach no package registry, and TensorFlow's CUDA wheels are gigabytes,
so the graphs travel as XLA's own program format instead. `export` (here, with TensorFlow)
lowers each graph as `--jit on` compiles it (FrameGraph: uint8 frames in and out; the dream's
ascent step) to an HLO module, and saves it with the weights it captures and the middle of
TensorFlow's own output on a photo. `replay` (there, with jax, numpy and OpenCV only)
compiles each module with the XLA in jaxlib for the GPU, checks its output against
TensorFlow's in levels of 255, and times it: the median of `--repeats` runs of `--calls`
calls, once with the frames sent to the GPU and back in every call and once with them staying
there. It also measures the GPU's bfloat16 and float32 matmul rate, the roof beside the rows.

    python benchmarks/gpu_replay.py export gpu_cases                    # here: TensorFlow
    python benchmarks/gpu_replay.py replay gpu_cases --json gpu.json    # there: jax[cuda]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
PAINTING = MEDIA / "styles" / "kandinsky_composition_vii.jpg"
PHOTO = MEDIA / "content" / "chelsea_cat.png"
HD, FULL_HD = ((1280, 720),), ((1280, 720), (1920, 1080))
# Two groups, each small enough for one transfer: (row label, chain, settings, precisions,
# sizes) of frame graphs, and (layer, size, tile sizes) of the dream's ascent step.
FRAME_CASES = {
    "main": (("style", "style", {"style": "0"}, ("float32", "bfloat16"), FULL_HD),
             ("style-image", "style", {"style": "0", "style_image": str(PAINTING)},
              ("float32",), FULL_HD)),
    "more": (("vintage", "vintage", {}, ("float32",), HD),
             ("kernels", "kernels", {}, ("float32",), HD),
             ("layers", "layers", {}, ("float32", "bfloat16"), HD)),
}
DREAM_CASES = {
    "main": (("block4_conv3", (1280, 720), (512, 0)),),
    "more": (("block3_conv3", (1280, 720), (0,)), ("block3_conv3", (640, 480), (0,))),
}
CHECKED = np.s_[180:540, 320:960]  # the part of the first frame compared with TensorFlow's


def export(folder: Path, group: str) -> None:
    """Lower each case to HLO; save it with its controls, weights and TensorFlow's output."""
    import tensorflow as tf

    from dreamreel import weights as store
    from dreamreel.engine import stages
    from dreamreel.engine.bench.measure import graph_flops
    from dreamreel.engine.graph import FrameGraph
    from dreamreel.pipelines.dream import Dreamer, DreamSettings
    from dreamreel.pipelines.vgg16 import VGG16Features

    folder.mkdir(parents=True, exist_ok=True)
    photo = cv2.imread(str(PHOTO))
    used = {size for *_, sizes in FRAME_CASES[group] for size in sizes}
    used |= {size for _, size, _ in DREAM_CASES[group]}
    for width, height in used:
        resized = cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"photo{height}.png"), resized)
    cases: list[dict] = []
    weights: dict[str, np.ndarray] = {}

    def stored(value: np.ndarray) -> list[str]:
        """[key in weights.npz, dtype]: a bfloat16 tensor that is a float32 one rounded is
        kept as that one's key (the files must fit one transfer), any other as its bits."""
        dtype = value.dtype.name
        if dtype == "bfloat16":
            for key, other in weights.items():
                if other.dtype == np.float32 and other.shape == value.shape and np.array_equal(
                        other.astype(value.dtype).view(np.uint16), value.view(np.uint16)):
                    return [key, "bfloat16"]
            value, dtype = value.view(np.uint16), "bfloat16-bits"
        key = hashlib.sha256(value.tobytes() + dtype.encode()).hexdigest()[:16]
        weights.setdefault(key, value)
        return [key, dtype]

    def save(name: str, fn: Callable, args: list, flops: float, frames: int) -> None:
        """args[0] is the image input (made by `image_input` again on replay), the other
        tensors small controls; a Python int among them is a trace-time setting."""
        concrete = fn.get_concrete_function(*args)
        hlo = fn.experimental_get_compiler_ir(*args)(stage="hlo_serialized")
        (folder / f"{name}.hlo.pb").write_bytes(hlo)
        controls = [np.asarray(a) for a in args[1:] if not isinstance(a, int)]
        reference = levels(np.asarray(concrete(*args))[0])[CHECKED]
        np.savez_compressed(folder / f"{name}.io.npz", reference=reference,
                            **{f"control{i}": a for i, a in enumerate(controls)})
        batch, height, width, _ = args[0].shape
        cases.append({"name": name, "batch": batch, "height": height, "width": width,
                      "dtype": args[0].dtype.name, "controls": len(controls),
                      "captured": [stored(t.numpy()) for t in concrete.captured_inputs],
                      "frames": frames, "gflop_per_frame": flops / 1e9})
        print(f"{name}: {len(hlo) / 1e6:.1f} MB of HLO")

    for label, chain, values, precisions, sizes in FRAME_CASES[group]:
        for precision in precisions:
            effect = stages.build(stages.stages(chain, values),
                                  stages.context(precision, jit=True)).graph
            controls = effect.controls()
            names = sorted(controls)
            for width, height in sizes:
                padded = [-(-side // effect.stride) * effect.stride for side in (height, width)]
                flops = graph_flops(
                    lambda x, e=effect, c=controls: e(x, {k: tf.convert_to_tensor(v)
                                                          for k, v in c.items()}),
                    tf.TensorSpec([1, *padded, 3]))
                for batch in (1, 4) if height == 720 else (1,):
                    graph = FrameGraph(effect, batch, height, width, jit=True)
                    frames = image_input(folder, batch, height, "uint8")
                    args = [tf.constant(frames)] + [
                        tf.constant(np.asarray(controls[n], np.float32)) for n in names]
                    save(f"{label}-{height}p-{precision}-b{batch}", graph._fn, args, flops,
                         batch)

    for layer, (width, height), tiles in DREAM_CASES[group]:
        image = tf.constant(image_input(folder, 1, height, "float32"))
        for precision in ("float32", "bfloat16"):
            features = VGG16Features(store.load("vgg16"), dtype=getattr(tf, precision))
            for tile in tiles:
                dreamer = Dreamer(features, DreamSettings(layers={layer: 1.0}, tile_size=tile,
                                                          jit=True))
                flops = graph_flops(dreamer.gradient, tf.TensorSpec([1, height, width, 3]))
                args = [image, tf.constant([3, -5], tf.int32),
                        tf.constant(dreamer.default_weights()), tf.constant(0.008), 1]
                save(f"dream-{layer}-{height}p-{precision}-tile{tile}", dreamer._step_fn,
                     args, flops, 1)

    np.savez_compressed(folder / "weights.npz", **weights)
    (folder / "cases.json").write_text(json.dumps(cases, indent=1))


def image_input(folder: Path, batch: int, height: int, dtype: str) -> np.ndarray:
    """A graph's image input: the saved photo `batch` times, uint8 RGB or float32 0..1."""
    photo = cv2.cvtColor(cv2.imread(str(folder / f"photo{height}.png")), cv2.COLOR_BGR2RGB)
    frames = np.repeat(photo[np.newaxis], batch, axis=0)
    return frames if dtype == "uint8" else frames.astype(np.float32) / 255.0


def levels(image: np.ndarray) -> np.ndarray:
    """A uint8 or 0..1 float image as uint8 levels."""
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image.astype(np.float32), 0, 1) * 255).astype(np.uint8)


def loaded(value: np.ndarray, dtype: str) -> np.ndarray:
    """A captured tensor as `export` stored it, back in its own dtype."""
    import ml_dtypes

    if dtype == "bfloat16":
        return value.astype(ml_dtypes.bfloat16)
    if dtype == "bfloat16-bits":
        return value.view(ml_dtypes.bfloat16)
    return value


def replay(folder: Path, repeats: int, calls: int, platform_name: str,
           only: list[str] | None = None) -> dict:
    """Compile each saved module with jaxlib's XLA on `platform_name`; check and time it."""
    import jax
    from jax._src import xla_bridge
    from jax._src.lib import xla_client as xc

    backend = xla_bridge.get_backend(platform_name)
    device = backend.local_devices()[0]
    weights = np.load(folder / "weights.npz")
    results = {"device": device.device_kind, "platform": platform_name, "jax": jax.__version__,
               "python": platform.python_version(), "roof_tflops": roof(device), "cases": []}
    print(f"{device.device_kind}, jax {jax.__version__}: matmul roof {results['roof_tflops']}")
    for case in json.loads((folder / "cases.json").read_text()):
        if only and not any(part in case["name"] for part in only):
            continue
        module = xc._xla.mlir.hlo_to_stablehlo((folder / f"{case['name']}.hlo.pb").read_bytes())
        start = time.perf_counter()
        try:  # one case XLA cannot compile there must not cost the others' figures
            exe = backend.compile_and_load(module, xc.DeviceList((device,)), xc.CompileOptions())
        except Exception as error:  # noqa: BLE001
            print(f"{case['name']}: not compiled: {error}")
            results["cases"].append({"name": case["name"], "error": str(error)})
            continue
        compile_s = time.perf_counter() - start
        print(f"{case['name']}: compiled in {compile_s:.1f} s", flush=True)
        io = np.load(folder / f"{case['name']}.io.npz")
        host = [image_input(folder, case["batch"], case["height"], case["dtype"])]
        host += [io[f"control{i}"] for i in range(case["controls"])]
        held = [jax.device_put(loaded(weights[k], dtype), device)
                for k, dtype in case["captured"]]
        row = {key: value for key, value in case.items() if key != "captured"}
        row.update(compile_s=compile_s, **timed(exe, host, held, device, io["reference"],
                                                repeats, calls))
        for label in ("round_trip", "resident"):
            row[f"{label}_fps"] = 1000 * case["frames"] / row[f"{label}_ms"]
        row["tflops"] = row["gflop_per_frame"] * row["resident_fps"] / 1000
        results["cases"].append(row)
        print(f"{case['name']}: {row['round_trip_fps']:.1f} fps with transfers "
              f"({row['round_trip_ms']:.2f} ms a call), {row['resident_fps']:.1f} resident, "
              f"{row['tflops']:.1f} TFLOP/s; against TensorFlow max {row['max_diff_levels']} "
              f"mean {row['mean_diff_levels']:.3f} levels", flush=True)
    return results


def timed(exe: object, host: list[np.ndarray], held: list, device: object,
          reference: np.ndarray, repeats: int, calls: int) -> dict[str, float]:
    """One executable's agreement with TensorFlow and its milliseconds a call: with the
    inputs sent and the output fetched in every call, and with both staying on the device."""
    import jax

    def run(args: list) -> jax.Array:
        return exe.execute_sharded(args).disassemble_into_single_device_arrays()[0][0]

    def round_trip() -> np.ndarray:
        return np.asarray(run([jax.device_put(a, device) for a in host] + held))

    on_device = [jax.device_put(a, device) for a in host] + held

    def resident() -> jax.Array:
        return run(on_device).block_until_ready()

    diff = np.abs(levels(round_trip()[0])[CHECKED].astype(np.int16) - reference)
    row = {"max_diff_levels": int(diff.max()), "mean_diff_levels": float(diff.mean())}
    for label, call in (("round_trip", round_trip), ("resident", resident)):
        call()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                call()
            times.append((time.perf_counter() - start) / calls)
        row[f"{label}_ms"] = 1000 * statistics.median(times)
    return row


def roof(device: object, side: int = 8192, calls: int = 10) -> dict[str, float]:
    """The device's matmul rate in TFLOP/s, bfloat16 and float32 (float32 at XLA's default
    precision: TF32 on NVIDIA tensor cores) on random numbers, the median of three
    runs of `calls` products."""
    import jax
    import jax.numpy as jnp

    rates = {}
    for dtype in (jnp.bfloat16, jnp.float32):
        a = jax.device_put(jax.random.normal(jax.random.key(0), (side, side), dtype), device)
        product = jax.jit(lambda x: x @ x)
        product(a).block_until_ready()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(calls):
                out = product(a)
            out.block_until_ready()
            times.append((time.perf_counter() - start) / calls)
        rates[jnp.dtype(dtype).name] = round(2 * side**3 / statistics.median(times) / 1e12, 1)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export")
    exp.add_argument("folder", type=Path)
    exp.add_argument("--group", choices=sorted(FRAME_CASES), default="main")
    rep = sub.add_parser("replay")
    rep.add_argument("folder", type=Path)
    rep.add_argument("--repeats", type=int, default=5)
    rep.add_argument("--calls", type=int, default=20)
    rep.add_argument("--platform", default="gpu")
    rep.add_argument("--only", nargs="*", help="only the cases whose names hold one of these")
    rep.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.command == "export":
        export(args.folder, args.group)
        return
    results = replay(args.folder, args.repeats, args.calls, args.platform, args.only)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
