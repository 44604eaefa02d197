"""``patchseq-intake features``: IPFX's features of the selected cells, one row per cell (or per sweep, per spike)."""

from __future__ import annotations

import argparse

from .. import config
from ..access.modes import ACCESS_MODES
from ..catalog import open_catalog
from .dandisets import ID_HELP, ids_parameter
from .options import (
    CommandError,
    access_given,
    add_archive_argument,
    add_filter_option,
    add_output_options,
    add_version_option,
    filters_given,
    subcommand,
    whole_number,
)
from .output import chosen_format, emit

TABLES = ("cells", "sweeps", "spikes")


def add_features(commands: argparse._SubParsersAction) -> None:
    sub = subcommand(
        commands,
        "features",
        help="IPFX's features of the selected cells: one row per cell (or per sweep, per spike)",
        description="IPFX's per-cell features of the named cells, or of the cells matching the filters (neither: "
        "every cell of the archive), as IPFX's run_feature_collection names them: rheobase_i (pA), input_resistance "
        "(MOhm), tau (s), v_baseline (mV), sag_nearest_minus_100, fi_linear_fit_slope, the first and mean action "
        "potential at each amplitude above rheobase, short squares and ramps; and error, why a stimulus type or the "
        "cell could not be analysed (that cell still has its row). Computed by IPFX (pip install "
        "\"patchseq-intake[features]\") from the sweeps it needs, with no sweep QC; cached, so a second run "
        "computes nothing. --table sweeps or spikes gives IPFX's per-sweep or per-spike features instead. On a "
        "dandiset beyond 2020, of its recordings (named by ephys_session_id; filters on its sessions table), each "
        "row led by ephys_session_id and dandi_path.",
        examples=[
            "patchseq-intake features human 541549258 569835804",
            "patchseq-intake features mouse --filter structure == VISp5 --access stream --workers 8 -o visp5.parquet",
            "patchseq-intake features mouse 601506507 --table spikes --format csv",
            "patchseq-intake features human_l1 --filter donor == 839897123 --access stream",
        ],
        run=_run_features,
    )
    add_archive_argument(sub)
    sub.add_argument("specimen_ids", type=whole_number(), nargs="*", metavar="SPECIMEN_ID", help=ID_HELP)
    add_filter_option(sub)
    sub.add_argument("--table", choices=TABLES, default="cells",
                     help="cells (the default: one row per cell), sweeps (one per analysed sweep) or spikes (one "
                     "per spike)")
    sub.add_argument("--access", choices=ACCESS_MODES,
                     help="download: the whole verified files into the cache (the default); stream: HTTP range "
                     "reads of the sweeps the features need; local: a local copy of the dandiset (with --root)")
    sub.add_argument("--root", metavar="DIR",
                     help=f"for --access local: the directory holding the dandiset (default ${config.LOCAL_ROOT_ENV})")
    sub.add_argument("--device", metavar="D",
                     help="the device whose sweeps to analyse, where several recorded the headstage (e.g. "
                     "ITC18USB_Dev_0; the release's files have one)")
    sub.add_argument("--workers", type=whole_number(256, low=1), metavar="N",
                     help="processes computing the cells not cached (default: the machine's cores)")
    sub.add_argument("--amp-interval", type=whole_number(1000, low=1), default=20, metavar="PA",
                     help="IPFX's supra-threshold long-square features every PA pA above rheobase (default 20)")
    sub.add_argument("--max-above-rheo", type=whole_number(2000), default=100, metavar="PA",
                     help="... up to PA pA above rheobase (default 100)")
    add_version_option(sub)
    add_output_options(sub)


def _run_features(args: argparse.Namespace) -> None:
    output_format = chosen_format(args)
    given = {
        **ids_parameter(args.archive, args.specimen_ids or None),
        "access": access_given(args.access, args.root),
        "root": args.root,
        "version": args.dandi_version,
        "num_workers": args.workers,
        "device": args.device,
    }
    source = open_catalog()[args.archive].features(
        filters=filters_given(args.filters),
        amp_interval=args.amp_interval,
        max_above_rheo=args.max_above_rheo,
        **{name: value for name, value in given.items() if value is not None},
    )
    read = {"cells": source.read, "sweeps": source.sweep_features, "spikes": source.spike_features}[args.table]
    table = read()
    emit(table, output_format, args.output, float32_decimals=False)  # float64 as IPFX computed them
    values = table.drop(columns=["cell_specimen_id", "ephys_session_id", "dandi_path", "stimulus", "sweep_number",
                                 "error"], errors="ignore")
    if len(table) and values.isna().all().all():  # a script checking the exit status must not take it for success
        raise CommandError(f"no cell has features: every row's error column says why (first: {table['error'].iloc[0]})")
