"""A demo clip the project draws itself, so a new user sees a result without bringing a file.

A landscape at dusk: rolling hills, a moving sun, a bobbing boat and its title, 4 seconds at
25 fps with a soft two-note chime as sound (so the result shows that audio is kept).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS = 480, 320, 25, 4
SAMPLE_RATE = 44100


def draw_frame(t: float, grain: bool = True) -> np.ndarray:
    """The scene at time `t` seconds, uint8 RGB [HEIGHT, WIDTH, 3]; without `grain`, its sky is
    a perfectly smooth gradient (flat for optical flow, as a clear sky or a wall)."""
    y = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None, None]
    sky = (1 - y) * np.array([70, 110, 200], np.float32) + y * np.array([250, 170, 120], np.float32)
    sky = np.broadcast_to(sky, (HEIGHT, WIDTH, 3)) + (_grain() if grain else 0.0)
    image = np.clip(sky + 0.5, 0, 255).astype(np.uint8)
    sun = (int(WIDTH * (0.2 + 0.15 * t)), int(HEIGHT * (0.45 - 0.05 * t)))
    cv2.circle(image, sun, 38, (255, 225, 120), -1, cv2.LINE_AA)
    xs = np.arange(WIDTH)
    for depth, (colour, base, amp) in enumerate(
        [((60, 120, 80), 0.62, 22), ((40, 95, 60), 0.72, 18), ((30, 70, 110), 0.86, 6)]
    ):
        phase = t * (0.6 + 0.8 * depth)
        ridge = HEIGHT * base + amp * np.sin(xs / (55 - 12 * depth) + phase)
        mask = np.arange(HEIGHT)[:, None] >= ridge[None, :]
        image[mask] = colour
    boat_x = int(WIDTH * (0.15 + 0.18 * t))
    boat_y = int(HEIGHT * 0.88 + 4 * np.sin(3 * t))
    hull = np.array([[boat_x - 40, boat_y], [boat_x + 40, boat_y], [boat_x + 28, boat_y + 14],
                     [boat_x - 28, boat_y + 14]], np.int32)
    cv2.fillPoly(image, [hull], (120, 60, 40), cv2.LINE_AA)
    sail = np.array([[boat_x, boat_y - 55], [boat_x, boat_y - 4], [boat_x + 32, boat_y - 4]], np.int32)
    cv2.fillPoly(image, [sail], (245, 245, 235), cv2.LINE_AA)
    cv2.putText(image, "dreamreel", (WIDTH // 2 - 120, 60), cv2.FONT_HERSHEY_DUPLEX, 1.5,
                (255, 255, 255), 3, cv2.LINE_AA)
    return image


@lru_cache(maxsize=1)
def _grain() -> np.ndarray:
    """A still, fine grain on the sky (float32 HEIGHT x WIDTH x 1, about 3 levels), as on a
    painted backdrop: a perfectly smooth 8-bit gradient reaches a style network as flat bands,
    which it paints as horizontal streaks."""
    return np.random.default_rng(7).normal(0.0, 3.0, (HEIGHT, WIDTH, 1)).astype(np.float32)


def chime(seconds: float) -> np.ndarray:
    """A soft two-note chime, float32 stereo [2, samples] in -1..1."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    note = np.where(t % 1.0 < 0.5, 523.25, 659.25)
    envelope = np.exp(-4 * (t % 0.5))
    wave = 0.2 * envelope * np.sin(2 * np.pi * note * t)
    return np.stack([wave, wave]).astype(np.float32)


def write_demo_clip(path: Path) -> Path:
    """Encode the scene and the chime as H.264 + AAC at `path`."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "16"}
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        for i in range(FPS * SECONDS):
            frame = av.VideoFrame.from_ndarray(draw_frame(i / FPS), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = chime(SECONDS)
        for offset in range(0, samples.shape[1], 1024):
            chunk = np.ascontiguousarray(samples[:, offset : offset + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = SAMPLE_RATE, offset
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path
