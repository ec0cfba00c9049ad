"""`dreamreel live --camera 0`: stylize a camera (or a file standing in for one) live, for VJs.

Compiles every pipeline of the setlist first, then runs the show until Esc/q, closing the
window, Ctrl-C or --duration; the recording is finished in every case.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dreamreel.engine import compute
from dreamreel.engine.commands.options import (
    add_compute_arguments,
    add_effect_arguments,
    add_mask_arguments,
    crf,
    mask_spec,
    setting_values,
)
from dreamreel.engine.flow import PRESETS
from dreamreel.engine.live.programs import parse_spec
from dreamreel.engine.sinks.base import takes_alpha
from dreamreel.engine.sinks.video import CHROMA
from dreamreel.errors import MediaError, SettingsError, UsageError

DEFAULT_SIZE = 240  # working short side live: 320x240 for a 4:3 camera
FIRST_FRAME_TIMEOUT = 10.0  # seconds to wait for the camera's first frame
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what no text line holds (tabs may)

if TYPE_CHECKING:
    from dreamreel.engine.live.outputs import Recorder
    from dreamreel.engine.live.params import LiveState
    from dreamreel.engine.music.live import LiveMusic


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("live", help="stylize a camera or a looping file live (preview, "
                            "virtual camera, NDI, recording; OSC/MIDI/keyboard control)")
    source = parser.add_argument_group("source").add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, metavar="N", help="camera device number (0 = first)")
    source.add_argument("--source", metavar="FILE_OR_URL",
                        help="a video file (played at its frame rate), a stream URL, or "
                        "ndi:NAME (an NDI source) instead of a camera")
    source.add_argument("--list-sources", action="store_true",
                        help="list the NDI sources on the network, then end")
    parser.add_argument("--loop", action="store_true", help="play --source FILE forever")
    add_effect_arguments(parser, kinds=("frame", "sequential", "source"), live=True)
    add_compute_arguments(parser, batch=False)
    show = parser.add_argument_group("show")
    show.add_argument("--setlist", metavar="FILE|SPEC;SPEC",
                      help="pipelines to switch between live, all compiled up front: a file with one "
                      "pipeline spec per line (# comments), or specs separated by ';' "
                      "(default: just --pipeline)")
    show.add_argument("--learn-from", type=Path, metavar="CLIP",
                      help="the clip an effect that learns (autoencoder) learns from before the "
                      "show; cached, so the next show with the same clip and settings starts "
                      "at once")
    show.add_argument("--crossfade", type=float, default=0.5, metavar="SEC",
                      help="fade style and pipeline changes over this many seconds (default 0.5)")
    show.add_argument("--temporal", type=float, default=0.0, metavar="W",
                      help="0..1 flow-guided stabiliser weight (default 0 = off; key t toggles)")
    show.add_argument("--flow-preset", default="ultrafast", choices=tuple(PRESETS))
    show.add_argument("--target-fps", type=float, metavar="FPS",
                      help="lower the working size (down to half) to hold this frame rate")
    show.add_argument("--duration", type=float, metavar="SEC", help="end the show after this long")
    show.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_mask_arguments(parser)
    parser.add_argument("--stage", metavar="SPEC", help="with --mask: what shows where the "
                        "effect does not, a pipeline of the setlist instead of the camera "
                        "(--setlist 'style;dream' --mask person --stage dream: the performer "
                        "painted, the stage dreaming)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--no-preview", action="store_true", help="no window")
    out.add_argument("--fullscreen", action="store_true", help="preview fullscreen")
    out.add_argument("--display", type=int, default=0, metavar="N", help="preview on display N")
    out.add_argument("--virtual-cam", action="store_true", help="also send to a virtual webcam")
    out.add_argument("--ndi", metavar="NAME", help="also send as an NDI source with this name")
    out.add_argument("--out-size", type=out_size, metavar="WxH", help="every output at this "
                     "size (1920x1080), the picture fitted whole with black bars, whatever the "
                     "camera gives")
    out.add_argument("--out-fps", type=float, metavar="FPS", help="the virtual camera, NDI "
                     "and the recording get exactly this many frames a second (the newest "
                     "picture, repeated or skipped), whatever the camera and the effect do")
    out.add_argument("--record", type=Path, metavar="OUT.mp4", help="record the show (clean, no OSD)")
    out.add_argument("-y", "--overwrite", action="store_true", help="replace an existing recording")
    out.add_argument("--record-crf", type=crf, default=20, help="H.264 quality of the "
                     "recording, 0..51, lower is better (default 20)")
    out.add_argument("--record-preset", default="veryfast", help="x264 preset (default veryfast)")
    out.add_argument("--record-chroma", choices=CHROMA, default="420", help="colour resolution "
                     "of the recording: 420 (default) or 444 (as `run --chroma`)")
    out.add_argument("--screenshots", type=Path, default=Path("."), metavar="DIR",
                     help="where key s (or OSC /dreamreel/screenshot) saves PNGs (default: here)")
    ctl = parser.add_argument_group("control")
    ctl.add_argument("--osc", type=int, metavar="PORT", help="listen for OSC on this UDP port")
    ctl.add_argument("--osc-host", default="127.0.0.1",
                     help="address to listen on (0.0.0.0 = the network; default 127.0.0.1)")
    ctl.add_argument("--oscquery", type=int, metavar="PORT", help="describe every OSC parameter "
                     "(types, ranges, values) over HTTP on this port, advertised by zeroconf "
                     "(pip install 'dreamreel[discovery]') for VDMX, Chataigne, TouchDesigner")
    ctl.add_argument("--osc-reply", metavar="HOST:PORT", help="send every parameter change "
                     "(from keys, MIDI, OSC, the page) to this OSC controller, as the value and "
                     "as 0..1 at /dreamreel/<name>/unit, so its faders follow")
    ctl.add_argument("--web", type=int, metavar="PORT", help="serve a control page for a phone "
                     "or tablet (faders, styles, presets, tap, fps) on this port")
    ctl.add_argument("--web-host", default="127.0.0.1", metavar="HOST",
                     help="where the page listens (default 127.0.0.1; 0.0.0.0 for the phone on "
                     "your network: the URL then carries a token)")
    ctl.add_argument("--midi", nargs="?", const="", metavar="PORT",
                     help="take MIDI from this input (default: the first)")
    ctl.add_argument("--midi-map", type=Path, metavar="FILE", help="MIDI mapping, .json or .toml")
    ctl.add_argument("--midi-learn", type=Path, metavar="FILE",
                     help="learn a MIDI mapping interactively, write it to FILE, and exit")
    music = parser.add_argument_group("music (tempo from --bpm, Enter/OSC tap, MIDI clock, or "
                                      "the sound)")
    music.add_argument("--react", action="append", default=[], metavar="SETTING=EXPR",
                       help="a setting follows the music, as in `run --react` (OSC "
                       "/dreamreel/react sets one mid-show, /dreamreel/react_clear drops them)")
    music.add_argument("--audio-in", metavar="mic[:DEVICE]|FILE",
                       help="listen to a sound card (pip install 'dreamreel[music]') or play a "
                       "file in step with the show, for bass, onset and the sound's tempo")
    music.add_argument("--quantise", default="off", choices=("off", "beat", "bar"),
                       help="hold pipeline, style and layer changes until the next beat or bar")
    music.add_argument("--link", action="store_true",
                       help="join an Ableton Link session: share tempo and beat with Live, "
                       "Resolume, Traktor (pip install 'dreamreel[link]', GPL)")
    music.add_argument("--presets", type=Path, metavar="FILE.json",
                       help="where OSC /dreamreel/save_preset NAME keeps presets; /dreamreel/"
                       "preset 'NAME 4' (or keys F1-F8, a MIDI note) recalls one over 4 beats")
    parser.set_defaults(handler=live)


def setlist(args: argparse.Namespace) -> list[str]:
    """The pipeline specs of the show, each checked now (not half way through compiling)."""
    where: dict[str, str] = {}  # spec -> its line in the file, for the error that names it
    if args.setlist is None:
        specs = [args.pipeline]
    elif Path(args.setlist).is_file():
        specs = []
        for number, line in enumerate(read_setlist(Path(args.setlist)), 1):
            spec = line.split("#", 1)[0].strip()
            specs.append(spec)
            where.setdefault(spec, f"--setlist {args.setlist}, line {number}: ")
    elif "/" in args.setlist or args.setlist.lower().endswith(".txt"):  # specs have neither
        raise UsageError(f"--setlist {args.setlist}: no such file")
    else:
        specs = args.setlist.split(";")
    specs = list(dict.fromkeys(s.strip() for s in specs if s.strip()))
    if not specs:
        raise UsageError(f"--setlist {args.setlist}: no pipelines in it")
    for spec in specs:
        try:
            parse_spec(spec, setting_values(args))
        except SettingsError as err:
            raise UsageError(f"{where.get(spec, '')}{err}") from err
    return specs


def read_setlist(path: Path) -> list[str]:
    """The lines of a setlist file; a file that is not text (a picture, a damaged copy) is
    one line saying so rather than a decoding error, or a control character in a message."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise UsageError(f"--setlist {path}: not a text file (byte {err.start} is not UTF-8)") from err
    except OSError as err:
        raise UsageError(f"--setlist {path}: cannot read it ({err.strerror})") from err
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if CONTROL.search(line):
            raise UsageError(f"--setlist {path}, line {number}: has control characters; "
                             "a setlist is text, one pipeline per line")
    return lines


def out_size(text: str) -> tuple[int, int]:
    """--out-size WxH, each side 16 to 8192 pixels."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or not all(
            16 <= int(v) <= 8192 for v in (width, height)):
        raise argparse.ArgumentTypeError(f"{text}: give WIDTHxHEIGHT, e.g. 1920x1080")
    return int(width), int(height)


def check_numbers(args: argparse.Namespace) -> None:
    if args.loop and args.camera is not None:
        raise UsageError("--loop is for --source files")
    if args.size < 16:
        raise UsageError("--size must be at least 16 pixels")
    if not 0 <= args.temporal <= 1:
        raise UsageError("--temporal must be within 0..1")
    if not 0 <= args.crossfade <= 30:
        raise UsageError("--crossfade must be within 0..30 seconds")
    for name in ("target_fps", "duration", "out_fps"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")


def check_record(args: argparse.Namespace) -> None:
    """--record must not replace the --source file it is made from, even with -y."""
    if args.record is None or args.source is None or not Path(args.source).exists():
        return
    if args.record.exists() and args.record.samefile(args.source):  # symlinks and hard links too
        raise UsageError(f"--record {args.record}: the recording would overwrite the --source; "
                         "choose another name")


def setup_logging() -> None:
    """Live messages (camera lost, OSC warnings) as `dreamreel: ...` lines on stderr."""
    logger = logging.getLogger("dreamreel.live")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("dreamreel: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def list_ndi() -> int:
    """Print the NDI sources seen within a few seconds, one `--source` a line."""
    from dreamreel.engine.live.ndi import FIND_SECONDS, list_sources
    from dreamreel.engine.live.outputs import OutputUnavailable

    try:
        sources = list_sources()
    except OutputUnavailable as err:
        raise UsageError(str(err)) from None
    for source in sources:
        print(f"ndi:{source.ndi_name}")
    if not sources:
        print(f"dreamreel: no NDI sources seen within {FIND_SECONDS:g} s", file=sys.stderr)
    return 0


def learn(args: argparse.Namespace) -> int:
    """--midi-learn: bind controls one parameter at a time; Enter skips one."""
    from dreamreel.engine.live.midi import midi_inputs, midi_learn, save_midi_map

    try:
        mido, names = midi_inputs()
    except RuntimeError as err:
        raise UsageError(f"--midi-learn: {err}") from err
    if not names:
        raise UsageError("--midi-learn: no MIDI inputs found; plug in a controller")
    events: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [events.put(None) for _ in sys.stdin], daemon=True).start()
    with mido.open_input(args.midi or names[0], callback=events.put):
        bindings = midi_learn(iter(events.get, object()), lambda text: print(text, file=sys.stderr))
    save_midi_map(args.midi_learn, bindings)
    print(f"{args.midi_learn}: {len(bindings)} control(s) mapped", file=sys.stderr)
    return 0


def live(args: argparse.Namespace) -> int:
    from dreamreel.engine.live.capture import Capture, reader_opener
    from dreamreel.engine.live.midi import MidiHandler, load_midi_map, open_midi
    from dreamreel.engine.live.ndi import NdiSender
    from dreamreel.engine.live.osc import OscEcho, OscServer, reply_address
    from dreamreel.engine.live.oscquery import OscQuery
    from dreamreel.engine.live.outputs import (
        Paced,
        Preview,
        Recorder,
        Screenshots,
        VirtualCamera,
        start_output,
    )
    from dreamreel.engine.live.params import LiveState, Params, live_entries
    from dreamreel.engine.live.programs import compile_programs, live_rules, live_values
    from dreamreel.engine.live.show import Show, ladder
    from dreamreel.engine.live.web import WebControl
    from dreamreel.engine.mask import Mask

    setup_logging()
    if args.midi_learn:
        return learn(args)
    if args.list_sources:
        return list_ndi()
    if args.camera is None and args.source is None:
        raise UsageError("say what to play: --camera N or --source FILE_OR_URL")
    if args.size is None:
        args.size = DEFAULT_SIZE
    check_numbers(args)
    check_record(args)
    masking = mask_spec(args)
    if args.stage is not None and masking is None:
        raise UsageError("--stage is what shows around the masked effect: add --mask")
    if args.alpha and not (args.ndi or (args.record and takes_alpha(args.record))):
        raise UsageError("--alpha goes out over NDI (--ndi NAME) or into a --record of .mov "
                         "or .webm")
    reply = None if args.osc_reply is None else reply_address(args.osc_reply)
    if args.oscquery is not None and args.osc is None:
        raise UsageError("--oscquery describes the OSC parameters: add --osc PORT")
    specs = setlist(args)
    if args.stage not in (None, "camera", *specs):
        raise UsageError(f"--stage {args.stage}: not in the setlist ({', '.join(specs)})")
    values = setting_values(args)
    check_music(args, specs, values)
    bindings = load_midi_map(args.midi_map) if args.midi_map else []
    opener = reader_opener(args.camera, args.source, args.loop)
    capture = Capture(opener).start()
    outputs, preview, osc, midi, recorder, music, web, query = [], *[None] * 7
    try:
        first = capture.mailbox.wait_newer(0, FIRST_FRAME_TIMEOUT)
        if first is None:
            what = f"camera {args.camera}" if args.camera is not None else args.source
            raise MediaError(f"{what}: no picture within {FIRST_FRAME_TIMEOUT:g} s")
        height, width = first.image.shape[:2]
        rate = args.out_fps or args.target_fps or capture.fps or 30.0
        out_width, out_height = args.out_size or (width, height)
        if args.record:
            recorder = Recorder(args.record, out_width, out_height, rate, args.overwrite,
                                args.record_crf, args.record_preset, args.record_chroma,
                                alpha=args.alpha and takes_alpha(args.record))
            outputs.append(recorder)
        device = args.device or compute.default_device()
        sizes = ladder(args.size, args.target_fps)
        began = time.perf_counter()
        programs = compile_programs(specs, values, height, width, sizes, device, args.jit,
                                    args.precision, args.backend, args.preserve_color,
                                    args.offline, lambda line: print(line, file=sys.stderr),
                                    learn_from=args.learn_from)
        compile_seconds = time.perf_counter() - began
        print(f"dreamreel: compiled {len(specs)} pipeline(s) x {len(sizes)} size(s) "
              f"({', '.join(map(str, sizes))} px) in {compile_seconds:.1f} s", file=sys.stderr)
        names = {s.name for program in programs.values() for s in program.chain}
        checks, choices = live_rules(programs)
        state = LiveState(Params(pipeline=specs[0], strength=args.strength,
                                 temporal=args.temporal, crossfade=args.crossfade,
                                 values=live_values([p.chain for p in programs.values()])),
                          specs, live_entries(names), checks, choices)
        music = live_music(args, state)
        mask = None
        if masking is not None:
            mask = Mask(masking, gpu="GPU" in device)
            state.can_mask = True
            state.set("mask", args.mask)
            if args.stage is not None:
                state.set("stage", args.stage)
        if args.osc is not None:
            osc = OscServer(state, args.osc, args.osc_host).start()
        if args.oscquery is not None:
            query = OscQuery(state, args.oscquery, osc.port, args.osc_host).start()
        if reply is not None:
            OscEcho(state, *reply).sync()
        if args.web is not None:
            web = WebControl(state, args.web, args.web_host).start()
        if args.midi is not None or bindings:
            midi = open_midi(args.midi, MidiHandler(state, bindings))
        if not args.no_preview:
            preview = start_output(Preview, out_width, out_height, args.fullscreen, args.display)
        if args.virtual_cam:
            outputs.append(start_output(VirtualCamera, out_width, out_height, rate))
        if args.ndi:
            outputs.append(start_output(NdiSender, args.ndi))
        outputs = [o for o in outputs if o is not None]
        if args.out_fps:
            outputs = [Paced(o, args.out_fps) for o in outputs]
        where = f"; OSC on {args.osc_host}:{osc.port}" if osc else ""
        where += f"; OSCQuery on port {query.port}" if query else ""
        where += f"; control page {web.url}" if web else ""
        shape = f"{width}x{height}" + (f" as {out_width}x{out_height}" if args.out_size else "")
        shape += f" at {args.out_fps:g} fps" if args.out_fps else ""
        print(f"dreamreel: live {shape} -> {', '.join(o.name for o in outputs + [preview] if o) or 'no outputs'}"
              f"{where}", file=sys.stderr, flush=True)
        outputs.append(Screenshots(args.screenshots, lambda: state.screenshots))
        show = Show(state, capture, programs, sizes, outputs, preview, args.target_fps,
                    args.duration, args.flow_preset, music=music, mask=mask,
                    alpha=args.alpha, out_size=args.out_size)
        if web is not None:
            web.stats = show.readout
        stats = show.run()
    finally:
        for output in outputs:
            if isinstance(output, Paced):
                output.stop()
        capture.stop()
        if music is not None:
            music.close()
        if osc is not None:
            osc.stop()
        if query is not None:
            query.stop()
        if web is not None:
            web.stop()
        if midi is not None:
            midi.close()
        for output in [*outputs, preview]:
            if output is not None:
                output.close()
    stats.compile_seconds = compile_seconds
    summary = {"frames": stats.frames, "seconds": round(stats.seconds, 2), "fps": round(stats.fps, 2),
               "latency_median_ms": round(stats.latency_ms(0.5), 1),
               "latency_p95_ms": round(stats.latency_ms(0.95), 1),
               "compile_seconds": round(compile_seconds, 2), "working_sizes": sizes,
               "camera_losses": capture.losses, "record": str(args.record or ""),
               "record_error": str(recorder.error) if recorder and recorder.error else None,
               "music": {"bpm": round(music.clock.bpm, 2), "tempo_from": music.clock.source,
                         "mappings": music.mappings, "quantise": music.quantise}}
    if args.json:
        print(json.dumps(summary))
    print(f"dreamreel: {stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f} fps), latency "
          f"median {summary['latency_median_ms']} ms, p95 {summary['latency_p95_ms']} ms"
          + _recording(args.record, recorder), file=sys.stderr)
    return 0


def check_music(args: argparse.Namespace, specs: list[str], values: dict) -> None:
    """The --react mappings against the setlist's live settings, before minutes of compiling."""
    from dreamreel.engine.live.params import live_entries
    from dreamreel.engine.music import react
    from dreamreel.engine.music.live import sound_file, sound_library

    if args.audio_in is not None and sound_file(args.audio_in) is None:
        sound_library()  # a microphone: its library is there, before minutes of compiling
    names = {s.name for spec in specs for s in parse_spec(spec, values)}
    entries = react.quick(live_entries(names))
    for text in args.react:
        mapping = react.parse(text, entries)
        if mapping.sources & set(react.SOUND) and args.audio_in is None:
            raise UsageError(f"--react {text}: reads the sound: add --audio-in mic (or a file)")


def live_music(args: argparse.Namespace, state: LiveState) -> LiveMusic:
    """The show's beat clock, sound, mappings and presets, wired to taps, MIDI clock, OSC
    and MIDI notes."""
    from dreamreel.engine.live.presets import Presets
    from dreamreel.engine.music import react
    from dreamreel.engine.music.link import LinkSession
    from dreamreel.engine.music.live import BeatClock, LiveMusic, open_sound

    bpm = getattr(args, "bpm", None)  # --bpm: also the faces' tempo
    link = LinkSession(bpm or 120.0) if args.link else None
    clock = BeatClock(bpm or 120.0, time.perf_counter(), fixed=bpm is not None, link=link)
    music = LiveMusic(react.quick(state.entries), clock, open_sound(args.audio_in),
                      tuple(args.react), args.quantise)
    presets = Presets(state, args.presets, lambda: clock.bpm)
    state.on_tap, state.on_clock = clock.tap, clock.midi
    state.commands.update(react=music.set, react_clear=music.clear, preset=presets.recall,
                          save_preset=presets.save)
    return music


def _recording(path: Path | None, recorder: Recorder | None) -> str:
    """The closing line's word on the recording: made, kept up to a failure, or lost."""
    if recorder is None:
        return ""
    if recorder.error is None:
        return f"; recorded {path}"
    return f"; recording stopped early, kept in {path}" if recorder.kept else "; no recording kept"
