"""`run.py weights`: the model zoo from the command line (core.zoo).

list                 every pose model and detector: size, COCO AP, cached or not
get NAME…            download (verified) into the cache; a cached entry costs no request
verify [NAME…]       re-hash cached files against published and recorded digests
path NAME            where the entry's file is (exit 1 when it is not cached)
import NAME FILE     a file fetched another way (browser, proxy) -> verified -> the cache
remove NAME…         delete cached files, recorded digests and partial downloads
"""

from __future__ import annotations

import argparse
import sys

from core.cli.options import CommandParser
from core.errors import UserError

ACTIONS = ("list", "get", "verify", "path", "import", "remove")


def build_parser(command: str = "weights") -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=f"run.py {command}",
        description="Pose models and person detectors by name: list, download, verify, import, remove.",
        epilog="cache: $POSE_WEIGHTS_DIR (default ~/.cache/attention-hrnet-pose/weights); "
        "POSE_OFFLINE=1 forbids downloads; POSE_WEIGHTS_MIRROR=URL fetches the same file names from a mirror",
    )
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=CommandParser
    )
    listing = actions.add_parser("list", help="all entries with size, AP and whether they are cached")
    listing.add_argument("--kind", choices=("pose", "detector"), help="only this kind")
    get = actions.add_parser("get", help="download entries into the cache")
    get.add_argument("names", nargs="+", metavar="NAME")
    verify = actions.add_parser("verify", help="re-hash cached files (all when no NAME is given)")
    verify.add_argument("names", nargs="*", metavar="NAME")
    path = actions.add_parser("path", help="the cached file's path")
    path.add_argument("name", metavar="NAME")
    imported = actions.add_parser("import", help="verify a file fetched another way and cache it")
    imported.add_argument("name", metavar="NAME")
    imported.add_argument("file", metavar="FILE")
    remove = actions.add_parser("remove", help="delete cached files")
    remove.add_argument("names", nargs="+", metavar="NAME")
    return parser


def _entry(name: str):
    from core.zoo import lookup, names

    entry = lookup(name)
    if entry is None:
        raise UserError(f"no model named {name!r}; choose from {', '.join(names())}")
    return entry


def list_table(kind: str | None = None) -> str:
    """The registry as a table: one row per entry, with its cache state."""
    from core.zoo import cache_dir, entries, state

    rows = [("name", "kind", "model", "AP", "size", "cached", "licence")]
    for entry in entries(kind):
        rows.append(
            (
                entry.name,
                entry.kind,
                entry.describe(),
                "–" if entry.ap is None else f"{entry.ap:.1f}",
                entry.size_text(),
                "cached" if state(entry).cached else "–",
                entry.licence,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"cache: {cache_dir()}. AP: COCO val2017 keypoint AP (pose, published by mmpose), box mAP "
        "(torchvision); – : not published for this file. size ≈…?: not published, estimated from parameters."
    )
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str], command: str = "weights") -> int:
    args = build_parser(command).parse_args(argv)
    from core import zoo

    if args.action == "list":
        print(list_table(args.kind))
        return 0
    if args.action == "get":
        for entry in [_entry(name) for name in args.names]:
            cached = zoo.is_cached(entry)
            with zoo.tqdm_progress(entry) as bar:
                path = zoo.fetch(entry, bar)
            print(f"{entry.name}: {'already cached, verified' if cached else 'downloaded, verified'}: {path}")
        return 0
    if args.action == "verify":
        chosen = [_entry(name) for name in args.names] or [e for e in zoo.entries() if zoo.is_cached(e)]
        failed = 0
        for entry in chosen:
            if not zoo.is_cached(entry):
                print(f"{entry.name}: not cached")
                failed += 1
                continue
            try:
                print(f"{entry.name}: ok, {zoo.cached_file(entry)}")
            except UserError as error:
                print(f"{entry.name}: damaged: {error}")
                failed += 1
        if not chosen:
            print(f"nothing cached in {zoo.cache_dir()}")
        return 1 if failed else 0
    if args.action == "path":
        entry = _entry(args.name)
        print(zoo.entry_path(entry))
        if not zoo.is_cached(entry):
            print(f"{entry.name} is not cached: `python run.py weights get {entry.name}`", file=sys.stderr)
            return 1
        return 0
    if args.action == "import":
        entry = _entry(args.name)
        path = zoo.import_file(entry, args.file)
        print(f"{entry.name}: verified and cached at {path}")
        return 0
    for entry in [_entry(name) for name in args.names]:  # remove
        removed = zoo.remove(entry)
        print(f"{entry.name}: removed {len(removed)} file(s)" if removed else f"{entry.name}: not cached")
    return 0
