"""The preview window's keys: the show's own, and those the live settings declare."""

from __future__ import annotations

from dreamreel.engine.live.params import LiveState, log

# Key names as pygame.key.name() gives them -> (action, parameter, delta), for the show's own
# parameters; a live setting's declared keys (up, down) step it (see `key_map`).
SHOW_KEYS: dict[str, tuple[str, str, int]] = {
    "up": ("step", "strength", 1),
    "down": ("step", "strength", -1),
    "page down": ("step", "pipeline", 1),
    "page up": ("step", "pipeline", -1),
    "]": ("step", "crossfade", 1),
    "[": ("step", "crossfade", -1),
    "space": ("toggle", "freeze", 0),
    "o": ("toggle", "osd", 0),
    "t": ("toggle", "temporal", 0),
    "'": ("step", "wet", 1),
    ";": ("step", "wet", -1),
    "backspace": ("toggle", "blackout", 0),
    "m": ("step", "mask", 1),
}
QUIT_KEYS = ("escape", "q")
TAP_KEY = "return"
SCREENSHOT_KEY = "s"
DIGITS = "style"  # the setting the digit keys 0-9 pick values of
PRESET_KEYS = tuple(f"f{n}" for n in range(1, 9))  # recall presets "1".."8"


def key_map(state: LiveState) -> dict[str, tuple[str, str, int]]:
    """Every key of this show: the show's own and its live settings' declared ones."""
    keys = dict(SHOW_KEYS)
    for name, entry in state.entries.items():
        if entry.knob.keys:
            up, down = entry.knob.keys
            keys[up], keys[down] = ("step", name, 1), ("step", name, -1)
    return keys


def handle_key(state: LiveState, key: str) -> None:
    """Apply one key press: digits pick styles 0-9, F1-F8 recall presets 1-8, the key map
    the rest, Enter taps the tempo, s takes a screenshot, Esc/q end the show."""
    if key in QUIT_KEYS:
        state.quit.set()
    elif key == TAP_KEY:
        params = state.tap()
        if params is not None:
            log.info("tempo = %g bpm", params.tempo)
    elif key == SCREENSHOT_KEY:
        state.screenshot()
    elif key in PRESET_KEYS and "preset" in state.commands:
        state.set("preset", key[1:])
        log.info("preset %s", key[1:])
    elif key.isdigit() and DIGITS in state.entries:
        state.set(DIGITS, key)
    elif key in (keys := key_map(state)):
        action, name, delta = keys[key]
        params = state.step(name, delta) if action == "step" else state.toggle(name)
        log.info("%s = %s", name, state.value(name) if params is not None else "")
