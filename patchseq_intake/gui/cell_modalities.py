"""A cell's shape, genes and IPFX features as the cell browser shows them: plain data, no widgets
(``browser_modalities`` and ``browser_features`` draw them).

Every value comes from the catalog: the reconstruction from the archive's
``morphology`` entry (the transformed SWC on BIL, fetched once, verified and
cached), the t-type from the metadata (``browser_data.T_TYPE``), marker genes'
counts per million from the mouse ``transcriptomics`` entry (``values="cpm"``),
IPFX's features from the archive's ``features`` entry.
The CPM matrix is 866 MB and converted once into a store: ``marker_matrix``
says whether that store is already in the cache without fetching anything, so
that the browser reads genes only from a store that is there, or when asked.
Likewise ``cached_features`` reads a cell's features only where the cache
holds them (no request, no computation); ``computed_features`` has the entry
compute them (reading the cell's sweeps, then running IPFX).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import NoReleaseFileError

SHAPE_KIND = "transformed"
"""The SWC drawn: the release's upright reconstruction (``morphology`` entry's ``kind``)."""
MARKER_GENES = ("Gad1", "Slc17a7", "Pvalb", "Sst", "Vip", "Lamp5", "Sncg", "Snap25")
"""Genes shown, those the matrix has: the GABAergic subclasses' markers, a glutamatergic and a pan-neuronal one."""
MARKER_VALUES = "cpm"
"""The matrix the genes are read from: counts per million (comparable between cells)."""
TRANSCRIPTOME_ARCHIVES = ("mouse",)
"""The archives with transcriptomes in the release (the human manifest has none)."""


@dataclass(frozen=True)
class Shape:
    """A cell's reconstruction: ``points`` (the SWC's ``id, type, x, y, z, radius, parent``, µm, in the file's
    frame), ``reconstruction_type`` (the metadata's ``neuron_reconstruction_type``: full, dendrite-only) and
    ``soma`` (x, y, z in µm: the mean of the soma's samples, SWC type 1, else the root's)."""

    specimen_id: int
    points: pd.DataFrame
    reconstruction_type: str | None
    soma: tuple[float, float, float]


def read_shape(catalog: Any, archive: str, specimen_id: int) -> Shape | None:
    """The cell's transformed reconstruction; None where the release has none for it.

    Fetches the SWC file once (verified against the manifest, cached);
    ``FetchError`` and the other errors of the ``morphology`` entry as raised.
    """
    from ..morphology.swc import SWC_TYPES

    soma_type = next(code for code, name in SWC_TYPES.items() if name == "soma")
    try:
        points = catalog[archive].morphology(specimen_id=specimen_id, kind=SHAPE_KIND).read()
    except NoReleaseFileError:
        return None
    kinds = points["neuron_reconstruction_type"].dropna()
    soma = points[points["type"] == soma_type]
    if soma.empty:
        soma = points[points["parent"] == -1]
    return Shape(
        specimen_id=specimen_id,
        points=points[["id", "type", "x", "y", "z", "radius", "parent"]].reset_index(drop=True),
        reconstruction_type=str(kinds.iloc[0]) if len(kinds) else None,
        soma=tuple(float(soma[axis].mean()) for axis in ("x", "y", "z")),
    )


def soma_depth(row: pd.Series) -> str:
    """The soma's depth as the metadata gives it: ``depth_from_pia_um`` (µm from the pia) where there is one (the
    human table), else ``cell_soma_normalized_depth`` (0 at the pia, 1 at the white matter); else says there is none."""
    depth = row.get("depth_from_pia_um")
    if depth is not None and pd.notna(depth):
        return f"soma {float(depth):.0f} µm from the pia"
    normalized = row.get("cell_soma_normalized_depth")
    if normalized is not None and pd.notna(normalized):
        return f"normalized soma depth {float(normalized):.3f} (0 pia, 1 white matter)"
    return "soma depth not given"


@dataclass(frozen=True)
class MarkerMatrix:
    """The CPM matrix of an archive: its transcriptomics ``source`` (no genes, no cells chosen), the manifest's
    ``size`` (bytes of the CSV) and ``cached`` (whether its store is in the cache: reading genes fetches nothing)."""

    source: Any
    size: int
    cached: bool


def marker_matrix(catalog: Any, archive: str) -> MarkerMatrix | None:
    """The archive's CPM matrix and whether its store is cached; None for an archive without transcriptomes.

    Reads the manifest (cached table) and looks at the cache: no request
    for the matrix (the entry's ``is_converted``). Other bytes the user
    accepted before (the cache's ``found`` note says so) are read as the
    cache has them.
    """
    from ..archives.found import read_found

    if archive not in TRANSCRIPTOME_ARCHIVES:
        return None
    file = catalog[archive].transcriptomics(values=MARKER_VALUES).matrix_file
    found = read_found(file.sha256)
    accepted = found is not None and not found.matches  # other bytes, accepted before: read as the cache has them
    source = catalog[archive].transcriptomics(values=MARKER_VALUES, accept_other_bytes=accepted)
    return MarkerMatrix(source, file.size, source.is_converted())


def marker_values(matrix: MarkerMatrix, catalog: Any, archive: str, specimen_id: int) -> pd.Series | None:
    """The cell's CPM of the ``MARKER_GENES`` the matrix has, by gene; None where the matrix has no sample of it.

    Fetches and converts the matrix first where its store is not cached
    (866 MB for the release: call it only when that is wanted).
    """
    genes = set(matrix.source.matrix().genes)
    present = [gene for gene in MARKER_GENES if gene in genes]
    if not present:
        return pd.Series(dtype="float64")
    chosen = catalog[archive].transcriptomics(genes=present, specimen_id=specimen_id, values=MARKER_VALUES,
                                              accept_other_bytes=matrix.source.accept_other_bytes)
    try:
        row = chosen.read()
    except NoReleaseFileError:
        return None
    return row[present].iloc[0].astype("float64")


def download_progress(size: int) -> str:
    """What the cache holds so far of a release file being fetched (downloads in progress, MB), of ``size`` bytes."""
    from .. import config
    from ..archives.fetching import DOWNLOADS

    folder = config.cache_dir() / config.FILES_DIR / DOWNLOADS
    try:
        held = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    except OSError:  # a download finishing meanwhile: its file moved
        held = 0
    return f"{megabytes(held)} of {megabytes(size)} downloaded"


def megabytes(size: int) -> str:
    """``size`` bytes in MB (1e6 bytes): whole MB from 10 MB up (``866 MB``), else two significant digits."""
    return f"{size / 1e6:.0f} MB" if size >= 10e6 else f"{size / 1e6:.2g} MB"


@dataclass(frozen=True)
class KeyFeature:
    """A feature the browser shows: the entry's ``column`` (IPFX's name), a ``label``, the ``unit`` shown, the
    ``scale`` from IPFX's unit to it (IPFX gives times in s) and the ``decimals`` shown."""

    column: str
    label: str
    unit: str
    scale: float = 1.0
    decimals: int = 1


KEY_FEATURES = (
    KeyFeature("rheobase_i", "rheobase", "pA", decimals=0),
    KeyFeature("input_resistance", "input resistance", "MΩ"),
    KeyFeature("tau", "membrane time constant", "ms", scale=1e3),
    KeyFeature("v_baseline", "baseline", "mV"),
    KeyFeature("sag_nearest_minus_100", "sag (the long square nearest -100 pA)", "", decimals=3),
    KeyFeature("fi_linear_fit_slope", "f-I slope", "Hz/pA", decimals=3),
    KeyFeature("ap_1_threshold_v_0_long_square", "first spike's threshold at rheobase", "mV"),
    KeyFeature("ap_1_width_0_long_square", "first spike's width at rheobase", "ms", scale=1e3, decimals=2),
    KeyFeature("ap_1_upstroke_downstroke_ratio_0_long_square", "its upstroke/downstroke ratio", "", decimals=2),
)
"""What the features pane shows of a cell's row (the rheobase sweep's first spike: amplitude window 0)."""
NOT_COMPUTED = "not computed"
"""A feature's value where IPFX gave none."""


def features_source(catalog: Any, archive: str, chosen: dict[str, Any], access: str) -> Any:
    """The archive's ``features`` entry for one cell (or recording), chosen by ``chosen`` (``{"specimen_id": ...}``,
    ``{"session_id": ...}``: ``browser_data.selection``), read with ``access`` (the browser's), default parameters."""
    return catalog[archive].features(**chosen, access=access)


def cached_features(source: Any) -> pd.Series | None:
    """The cell's row of ``source`` (one cell's ``features`` entry) where the cache holds it, else None.

    Reads the cache only (``access.cell_features.cached_result``): no sweep,
    no request to DANDI for the file, no computation. ``IpfxMissingError``
    where IPFX is not installed (the result's key names IPFX's version).
    """
    from ..access.cell_features import CELL, cached_result
    from ..drivers.features import features_row
    from ..features.ipfx_library import ipfx

    ipfx()  # said first: without IPFX, a mode that caches nothing (``local``) would otherwise offer to compute
    cell = source.cells[0]
    found = cached_result(cell, source.access, CELL, source.parameters, source.headstage, source.device)
    if found is None:
        return None
    return features_row(cell, source.access, None, source.parameters, source.headstage, source.device,
                        found=found).iloc[0]


def computed_features(source: Any) -> pd.Series:
    """The cell's row of ``source``, computed by the entry (its sweeps read, IPFX run) and cached; a failure to
    read the sweeps (the network, a file that does not decode) is in the row's ``error``, as in the entry (the pane
    shows it: the entry's warning of it is not repeated)."""
    import warnings

    from ..errors import FeaturesFailedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeaturesFailedWarning)
        return source.read().iloc[0]


def feature_value(row: pd.Series, feature: KeyFeature) -> str:
    """``feature``'s value in the row, in its unit and decimals; ``NOT_COMPUTED`` where IPFX gave none (NaN)."""
    value = row.get(feature.column)
    if value is None or pd.isna(value):
        return NOT_COMPUTED
    return f"{float(value) * feature.scale:.{feature.decimals}f}"
