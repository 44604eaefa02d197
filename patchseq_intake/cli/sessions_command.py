"""``patchseq-intake sessions``: every Allen Patch-seq recording across dandisets, one row per session.

The root catalog's ``sessions`` entry (``drivers.sessions``): ``--dandiset``
(repeatable) its ``dandisets``, ``--all`` its ``["all"]``, ``--release-cells``
its ``release_cells``, ``--paper`` its ``paper``; ``--filter``, ``--columns``,
``--format`` and ``-o`` as for ``cells``.
"""

from __future__ import annotations

import argparse

from .options import (
    CommandError,
    UsageError,
    add_filter_option,
    add_output_options,
    columns_given,
    dandiset_id,
    filter_words,
    filters_given,
    subcommand,
)
from ..tables.shipped import shipped_papers
from .output import chosen_format, emit


def add_sessions(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "sessions",
        help="every Allen Patch-seq recording across dandisets, one row per session",
        description="Every Allen Institute Patch-seq recording on DANDI, one row per session (ephys_session_id) "
        "across the dandisets: donor, species, sex, age_days, the dandiset, version, path, asset id, size and "
        "SHA-256 of the copy chosen, dandisets (every dandiset holding those bytes), chosen_because (the newest "
        "published version of identical copies), copies_differ and other_copies (a session whose copies differ is "
        "a row per copy, never merged); a file without a session id is its own row, keyed by its path. By default "
        "every dandiset whose listing the package ships (no request to DANDI); --all adds those DANDI's API lists "
        "(001359, 001455: one paged listing each); --dandiset NAME only those named. No row matching the filters "
        "is an error.",
        examples=[
            "patchseq-intake sessions --format csv -o sessions.csv",
            "patchseq-intake sessions --dandiset human_l1 --dandiset 000636 --filter copies_differ == true",
            "patchseq-intake sessions --release-cells --filter species == 'Mus musculus' --columns ephys_session_id "
            "cell_specimen_id t_type",
            "patchseq-intake sessions --all --filter species == 'Macaca nemestrina'",
            "patchseq-intake sessions --dandiset human_l1 --paper paper_human_l1 --format csv -o l1.csv",
        ],
        run=_run_sessions,
    )
    sub.add_argument("--dandiset", dest="dandisets", action="append", default=[], type=dandiset_id, metavar="NAME",
                     help="only this dandiset's recordings: an id (000636, 636) or short name (human_interneurons); "
                     "repeat for several (default: every dandiset whose listing is shipped)")
    sub.add_argument("--all", action="store_true",
                     help="every dandiset, also those DANDI's API lists (001359, 001455), asked once each")
    sub.add_argument("--release-cells", action="store_true",
                     help="add the 2020 release's cell_specimen_id and t_type (reading its metadata tables)")
    sub.add_argument("--paper", choices=list(shipped_papers()), metavar="PAPER",
                     help="add a paper's per-cell table, its columns prefixed paper_, to the rows of its sessions "
                     f"(joined by ephys_session_id; fetched and cached on first use): one of {', '.join(shipped_papers())}")
    add_filter_option(sub)
    sub.add_argument("--columns", nargs="+", metavar="COLUMN", default=[],
                     help="the columns to show, in this order (space- or comma-separated; default all)")
    add_output_options(sub)


def _run_sessions(args: argparse.Namespace) -> None:
    from ..catalog import open_catalog

    if args.all and args.dandisets:
        raise UsageError("--all gathers every dandiset: give no --dandiset with it")
    output_format = chosen_format(args)
    filters = filters_given(args.filters)
    frame = open_catalog().sessions(
        dandisets=["all"] if args.all else list(dict.fromkeys(args.dandisets)),
        release_cells=args.release_cells,
        paper=args.paper,
        filters=filters,
        columns=columns_given(args.columns),
    ).read()
    if frame.empty:
        raise CommandError(f"no session matches {' '.join(map(filter_words, filters))}")
    emit(frame, output_format, args.output)
