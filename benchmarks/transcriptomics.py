"""A selection from an expression matrix of the release's size: the store against reading the whole CSV.

The release's CPM matrix (``20200513_Mouse_PatchSeq_Release_cpm.csv``, 866
MB) holds about 45 000 genes x 4435 samples. This writes a synthetic one of
that shape (``patchseq_intake.testing.transcriptomes``, as R's ``write.csv``
writes: quoted names, 15 significant digits, ``0`` for zeros; the fraction
of non-zero values set so that the file is about the real one's size),
then, each in a process of its own (so that its peak memory is its own):

- converts it into a store (``transcriptomes.matrix_store.convert``): seconds, peak RSS, the store's size;
- selects 50 genes x 1000 samples from the store (``MatrixStore(path).select``), warm (the store in the
  page cache): the process's wall time from its start (Python, pandas and h5py imported), the time of
  opening the store and selecting, and the peak RSS; the median of ``--repeat`` processes;
- today's way: ``pandas.read_csv(path, index_col=0)`` of the whole CSV, then ``.loc`` of the same genes and
  samples: the same figures.

Peak RSS is the process's high-water mark (``VmHWM`` in ``/proc/self/status``; elsewhere
``resource.getrusage``'s ``ru_maxrss``, which on Linux keeps the forking parent's peak across ``exec``, so
the CSV is written in a process of its own too).

Usage: python benchmarks/transcriptomics.py [--genes 45000] [--samples 4435] [--small] [--dir DIR]
``--small`` makes a matrix of 4500 genes (a tenth), for a quick look. Written files are removed at the end
unless ``--dir`` is given (then a CSV already there is reused).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MB = 1e6
SELECTED_GENES, SELECTED_SAMPLES = 50, 1000
DETECTED = 0.156
"""Non-zero fraction giving ~866 MB for 45 000 x 4435 CPM values as R writes them (the real file's size)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genes", type=int, default=45000)
    parser.add_argument("--samples", type=int, default=4435)
    parser.add_argument("--small", action="store_true", help="a tenth of the genes (4500)")
    parser.add_argument("--repeat", type=int, default=3, help="processes per selection case; the median is shown")
    parser.add_argument("--dir", type=Path, help="keep the files here (and reuse a CSV of the same shape)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return
    genes = args.genes // 10 if args.small else args.genes
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        _run(args.dir, genes, args.samples, args.repeat)
    else:
        with tempfile.TemporaryDirectory(prefix="transcriptomics-bench-") as scratch:
            _run(Path(scratch), genes, args.samples, args.repeat)


def _run(folder: Path, n_genes: int, n_samples: int, repeat: int) -> None:
    import os

    from patchseq_intake.testing.transcriptomes import gene_symbols, sample_ids

    load_before = os.getloadavg()[0]

    genes, samples = gene_symbols(n_genes), sample_ids(n_samples)
    csv_path = folder / f"synthetic_cpm_{n_genes}x{n_samples}.csv"
    store_path = folder / f"synthetic_cpm_{n_genes}x{n_samples}.h5"
    rows = []
    if not csv_path.exists():
        written = _in_process("write", csv_path)
        rows.append(("write the synthetic CSV (R's layout)", written["seconds"], written["peak_rss_mb"],
                     f"{csv_path.stat().st_size / MB:.0f} MB"))
    rng = np.random.default_rng(7)
    picked_genes = [str(gene) for gene in rng.choice(genes, min(SELECTED_GENES, n_genes), replace=False)]
    picked_samples = [str(sample) for sample in rng.choice(samples, min(SELECTED_SAMPLES, n_samples), replace=False)]
    ask = folder / "ask.json"
    ask.write_text(json.dumps({"genes": picked_genes, "samples": picked_samples}))

    converted = _in_process("convert", csv_path, store_path)
    rows.append(("convert the CSV into a store (one pass)", converted["seconds"], converted["peak_rss_mb"],
                 f"store {store_path.stat().st_size / MB:.0f} MB; "
                 f"{csv_path.stat().st_size / MB / converted['seconds']:.0f} MB of CSV/s"))
    for case, path, what in (("select", store_path, "store"), ("pandas", csv_path, "CSV")):
        runs = [_in_process(case, path, ask) for _ in range(repeat)]
        wall = statistics.median(run["process_seconds"] for run in runs)
        inner = statistics.median(run["seconds"] for run in runs)
        peak = max(run["peak_rss_mb"] for run in runs)
        asked = f"{len(picked_genes)} genes, {len(picked_samples)} samples"
        label = (f"new process: MatrixStore(store).select({asked})" if case == "select" else
                 f"new process: pandas.read_csv(whole CSV, index_col=0).loc[{asked}]")
        rows.append((label, wall, peak, f"{inner:.3f} s of it reading (after imports); median of {repeat}"))
    _print(n_genes, n_samples, csv_path, rows, (load_before, os.getloadavg()[0]))


def _in_process(case: str, *paths: Path) -> dict:
    """Run ``case`` in a new Python process; its figures, and its wall time from start to end."""
    started = time.perf_counter()
    answer = subprocess.run([sys.executable, __file__, "--child", case, *map(str, paths)],
                            check=True, capture_output=True, text=True)
    figures = json.loads(answer.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = time.perf_counter() - started
    return figures


def _child(case: str, *paths: str) -> None:
    import pandas as pd

    from patchseq_intake.transcriptomes.matrix_store import MatrixStore, convert

    started = time.perf_counter()
    if case == "write":
        _write(Path(paths[0]))
        shape = None
    elif case == "convert":
        csv_path, store_path = map(Path, paths)
        convert(csv_path, store_path, source_sha256="0" * 64)
        shape = None
    else:
        path, ask = Path(paths[0]), json.loads(Path(paths[1]).read_text())
        if case == "select":
            chosen = MatrixStore(path).select(ask["genes"], ask["samples"])
        else:
            chosen = pd.read_csv(path, index_col=0).loc[ask["genes"], ask["samples"]].T
        shape = list(chosen.shape)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "shape": shape}))


def _write(csv_path: Path) -> None:
    """The synthetic CSV of the shape its name says (``synthetic_cpm_<genes>x<samples>.csv``)."""
    from patchseq_intake.testing.transcriptomes import gene_symbols, sample_ids, write_matrix_csv

    n_genes, n_samples = map(int, csv_path.stem.rpartition("_")[2].split("x"))
    with csv_path.open("wb") as stream:
        write_matrix_csv(stream, gene_symbols(n_genes), sample_ids(n_samples), values="cpm", seed=0, writer="R",
                         detected=DETECTED)


def _peak_rss_mb() -> float:
    """This process's peak resident memory, MB (see the module docstring)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # kB on Linux


def _print(n_genes: int, n_samples: int, csv_path: Path, rows: list, load: tuple[float, float]) -> None:
    import h5py
    import pandas as pd

    print(f"Machine: {platform.machine()}, {_cores()} cores, Python {platform.python_version()}, "
          f"pandas {pd.__version__}, numpy {np.__version__}, h5py {h5py.__version__} "
          f"(HDF5 {h5py.version.hdf5_version}), "
          f"{time.strftime('%Y-%m-%d')}. Matrix: {n_genes} genes x {n_samples} samples, CPM, "
          f"{csv_path.stat().st_size / MB:.0f} MB of CSV. Load average (1 min) {load[0]:.1f} at the start, "
          f"{load[1]:.1f} at the end.\n")
    print("| case | time s | peak RSS MB | note |")
    print("|---|---|---|---|")
    for case, seconds, peak, note in rows:
        print(f"| {case} | {seconds:.3f} | {'' if peak is None else f'{peak:.0f}'} | {note} |")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
