"""The ``patchseq-intake`` command (also ``python -m patchseq_intake``)."""

from __future__ import annotations

import argparse
import sys

from .errors import PatchseqError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patchseq-intake",
        description="The Allen Institute's Patch-seq release through Intake catalogs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo",
        help="walk through the main job against a local replica (no network needed)",
        description="Start a local replica of DANDI and the release tables on 127.0.0.1, "
        "then filter cells, resolve one to its NWB file, read its sweep table and a sweep.",
        epilog="example: patchseq-intake demo",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo()
    except PatchseqError as exc:
        print(f"patchseq-intake: {exc}", file=sys.stderr)
        return 1
    return 0
