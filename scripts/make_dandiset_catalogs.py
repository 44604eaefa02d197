"""Write the catalogs of the Allen Patch-seq dandisets beyond the 2020 release, and the root catalog's entries.

One YAML catalog per dandiset of ``catalogs/dandi-assets/dandisets.csv``
(except ``human`` and ``mouse``, the 2020 archives, which have catalogs of
their own): ``catalogs/dandisets/<name>.yaml``, with the entries ``sessions``,
``ephys`` and ``features``. Their parameters are the 2020 archives' (read
from ``catalogs/human.yaml``), with ``session_id`` for ``specimen_id``; their
descriptions count what the shipped listing holds. The root catalog
(``catalogs/patchseq.yaml``) is written with ``human`` and ``mouse`` first,
then ``sessions`` (every recording, across dandisets), then each dandiset.

``tests/test_dandiset_catalogs.py`` checks that the shipped files are what
this script writes. Run from anywhere after changing the registry:

    python scripts/make_dandiset_catalogs.py
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from patchseq_intake.dandi.assets import read_listing_with_recordings
from patchseq_intake.dandi.dandisets import AllenDandiset, registry
from patchseq_intake.tables.shipped import paper_url, shipped_papers

CATALOGS = Path(__file__).resolve().parent.parent / "catalogs"
FOLDER = "dandisets"
HEADER = "# Written by scripts/make_dandiset_catalogs.py from catalogs/dandi-assets/dandisets.csv: edit those, not this.\n"
SESSION_ID = {
    "description": "A session id (ephys_session_id) or a non-empty list of them; null (the default) for every "
                   "recording the filters select",
    "type": "other",
    "default": None,
}
FILTERS = {"description": "Row filters on the sessions table [[column, op, value], ...], combined with AND",
           "type": "list", "default": []}
COLUMNS = {"description": "Columns to return (empty for all)", "type": "list", "default": []}
PAPER = {"description": "A paper's per-cell table to join (its entry's name, e.g. paper_human_l1); empty: none",
         "type": "str", "default": ""}
PAPER_WORDS = ("paper, a paper table of the root catalog whose columns to add (prefixed paper_) to the rows of "
               "its sessions, joined by ephys_session_id (default '', none)")


class _Dumper(yaml.SafeDumper):
    """Keys in the order written, every value written out where it is used (no YAML anchors)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _text(text: str) -> str:
    return " ".join(text.split())


def listing_facts(dandiset: AllenDandiset) -> str:
    """What the shipped listing holds, in words (files, sessions, donors, bytes); the API's listing otherwise."""
    pinned = dandiset.pinned()
    if pinned is None:
        return ("The catalog ships no listing of it: the first read lists its assets with DANDI's API "
                "(one paged listing, metadata=1), kept for the process.")
    assets, recordings = read_listing_with_recordings(pinned.path)
    sessions = {r.session for r in recordings.values() if r.session is not None}
    donors = {r.subject_id for r in recordings.values() if r.subject_id}
    without = sum(1 for path in assets if (r := recordings.get(path)) is None or r.session is None)
    gigabytes = sum(asset.size for asset in assets.values()) / 1e9
    files = f"{len(assets)} NWB files ({gigabytes:.1f} GB) of {len(sessions)} sessions from {len(donors)} donors"
    if without:
        files += f"; {without} files carry no session id (collaborators' recordings, known by their path)"
    return f"{files}. Its listing is shipped with the catalog: no request to DANDI."


def _version_words(dandiset: AllenDandiset) -> str:
    if dandiset.published:
        return f"published version {dandiset.version}"
    if dandiset.listing:
        return "draft (no published version is pinned: the listing shipped is the draft as the catalog last saw it)"
    return "draft (no published version is pinned: the catalog knows none; DANDI's API lists the draft as it is)"


def dandiset_catalog(dandiset: AllenDandiset, human: dict) -> dict:
    """The catalog of one dandiset, built on the ``human`` catalog's ``ephys`` and ``features`` entries."""
    listing = None
    if dandiset.listing:
        listing = {"version": dandiset.version, "path": f"{{{{ CATALOG_DIR }}}}/../dandi-assets/{dandiset.listing}"}
    where = f"DANDI dandiset {dandiset.dandiset} ({_version_words(dandiset)})"
    facts = listing_facts(dandiset)
    common = {"archive": None, "dandiset": dandiset.dandiset, "metadata_table": None, "manifest_table": None,
              "dandi_assets": listing, "version": "{{ version }}"}
    version = {"description": "Dandiset version: a published version or draft", "type": "str",
               "default": dandiset.version}
    sources = {
        "sessions": {
            "description": _text(f"""
                The recordings of {where}, one row per NWB file: ephys_session_id (missing for a file without
                one), donor, species, sex, age_days, dandiset, version, dandi_path, asset_id, size (bytes),
                sha256, dandisets, chosen_because, copies_differ and other_copies (identical files of one
                session merged, and dandisets, copies_differ and other_copies telling of the session's copies in
                the other dandisets whose listings the catalog ships). {facts} Parameters: filters
                and columns (default [], all rows and columns); version (default {dandiset.version});
                {PAPER_WORDS}."""),
            "driver": "patchseq_sessions",
            "args": {"dandiset": dandiset.dandiset, "dandi_assets": listing, "version": "{{ version }}",
                     "paper": "{{ paper }}", "filters": "{{ filters }}", "columns": "{{ columns }}"},
            "parameters": {"filters": FILTERS, "columns": COLUMNS, "version": version, "paper": PAPER},
            "metadata": {"plots": {}},
        },
    }
    sources["nwb_files"] = {
        **copy.deepcopy(sources["sessions"]),
        "description": _text(f"""
            The NWB files of {where}, one row per file: the sessions table under the name the 2020 archives give
            their files' table (the same columns: ephys_session_id, dandi_path, asset_id, size in bytes, sha256,
            and the copies in other dandisets). Parameters: filters, columns, version, paper, as for
            sessions."""),
    }
    for name in ("ephys", "features"):
        entry = copy.deepcopy(human["sources"][name])
        parameters = {"session_id": SESSION_ID}
        parameters |= {key: value for key, value in entry["parameters"].items() if key != "specimen_id"}
        parameters["filters"] = FILTERS
        parameters["version"] = version
        args = {**common, "session_id": "{{ session_id }}"}
        args |= {key: value for key, value in entry["args"].items() if key not in common and key != "specimen_id"}
        what = ("Electrophysiology of the selected recordings, one partition per NWB file: read() gives the "
                "sweep tables led by ephys_session_id and dandi_path, sweep(n, session_id=...) one sweep, "
                "open_nwb() the pynwb file" if name == "ephys" else
                "IPFX's features of the selected recordings, one row per NWB file led by ephys_session_id "
                "and dandi_path, as the 2020 archives' features entry computes them")
        entry["description"] = _text(f"""
            {what}, from {where}. Parameters: session_id (an ephys_session_id or a list of them; default
            none) and filters on the sessions table (default [], none; with neither, every recording);
            the others as for the human archive's {name} entry: access (download, stream or local), root,
            index_store, version (default {dandiset.version}), headstage, device{
            ', amp_interval, max_above_rheo, scheduler, num_workers' if name == 'features' else ''}.
            Creating the source fetches nothing.""")
        entry["args"], entry["parameters"] = args, parameters
        sources[name] = entry
    return {
        "metadata": {"version": 1, "dandiset": dandiset.dandiset, "dandi_version": dandiset.version,
                     "published": dandiset.published, "species": dandiset.species, "title": dandiset.title},
        "name": dandiset.name,
        "description": _text(f"{dandiset.title}: {dandiset.species}, {where}. {facts}"),
        "sources": sources,
    }


def root_catalog(root: dict) -> dict:
    """The root catalog: its ``human`` and ``mouse`` entries as they are, then ``sessions``, the papers' tables,
    then each dandiset."""
    sources = {name: root["sources"][name] for name in ("human", "mouse")}
    sources["sessions"] = {
        "description": _text(f"""
            Every Allen Institute Patch-seq recording on DANDI, one row per session (ephys_session_id) across
            dandisets: donor, species (binomial), sex, age_days, the dandiset, version, path, asset id, size
            and SHA-256 of the copy chosen, dandisets (every dandiset holding those bytes), chosen_because
            (the newest published version of identical copies), copies_differ and other_copies (a session
            whose copies differ is a row per copy, never merged); a file without a session id is its own row,
            keyed by its path. Parameters: dandisets (ids or short names; default [], every dandiset whose
            listing the catalog ships, no request; ['all'] adds those DANDI's API lists, 001359 and 001455);
            release_cells (default false; true adds the 2020 release's cell_specimen_id and t_type, reading
            the release's metadata tables); {PAPER_WORDS}; filters and columns (default [], all)."""),
        "driver": "patchseq_sessions",
        "args": {"dandisets": "{{ dandisets }}", "release_cells": "{{ release_cells }}", "paper": "{{ paper }}",
                 "filters": "{{ filters }}", "columns": "{{ columns }}"},
        "parameters": {
            "dandisets": {"description": "Dandisets to gather (ids or short names); [] every shipped listing; "
                                         "['all'] every dandiset", "type": "list", "default": []},
            "release_cells": {"description": "Add the 2020 release's cell_specimen_id and t_type",
                              "type": "bool", "default": False},
            "paper": PAPER,
            "filters": FILTERS,
            "columns": COLUMNS,
        },
        "metadata": {"plots": {}},
    }
    for name, paper in shipped_papers().items():
        sources[name] = {
            "description": _text(f"""
                {paper['about']} Join it to sessions with their paper parameter (sessions(paper="{name}")).
                Parameters: filters and columns (default [], all). The first read fetches the CSV from
                github.com/{paper['repository']} at commit {paper['commit'][:7]}, checks its SHA-256 and caches
                it as parquet; later reads are local."""),
            "driver": "patchseq_table",
            "args": {"url": paper_url(paper), "sha256": paper["sha256"], "table": "paper", "archive": paper["label"],
                     "filters": "{{ filters }}", "columns": "{{ columns }}"},
            "parameters": {"filters": FILTERS, "columns": COLUMNS},
            "metadata": {"plots": {}},
        }
    for dandiset in registry().values():
        if dandiset.release_2020:
            continue
        sources[dandiset.name] = {
            "description": _text(f"{dandiset.title} ({dandiset.species}; DANDI {dandiset.dandiset}, "
                                 f"{_version_words(dandiset)}). {listing_facts(dandiset)} "
                                 "Entries: sessions, nwb_files, ephys, features."),
            "driver": "patchseq_archive",
            "args": {"path": f"{{{{ CATALOG_DIR }}}}/{FOLDER}/{dandiset.name}.yaml"},
            "metadata": {"dandiset": dandiset.dandiset, "plots": {}},
        }
    return {**root, "description": _text("""
        Allen Institute Patch-seq recordings on DANDI: the 2020 release's two archives, human (DANDI 000023,
        318 cells) and mouse (DANDI 000020, 4435 cells), with their tables, morphologies and transcriptomes;
        sessions, every recording across the Institute's Patch-seq dandisets; and a catalog per dandiset
        since 2021 (human, macaque, mouse), by short name (cat.human_l1) or id (cat['000630']); and the
        per-cell tables two papers publish (paper_human_l1, paper_mouse_l1, paper_human_interneurons)."""),
        "sources": sources}


def render(catalog: dict) -> str:
    """The YAML text of ``catalog``, as the shipped files hold it."""
    return HEADER + yaml.dump(catalog, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def written() -> dict[Path, str]:
    """Every file this script writes, and its text."""
    human = yaml.safe_load((CATALOGS / "human.yaml").read_text())
    root = yaml.safe_load((CATALOGS / "patchseq.yaml").read_text())
    files = {CATALOGS / "patchseq.yaml": render(root_catalog(root))}
    for dandiset in registry().values():
        if not dandiset.release_2020:
            files[CATALOGS / FOLDER / f"{dandiset.name}.yaml"] = render(dandiset_catalog(dandiset, human))
    return files


def main() -> None:
    """Write the catalogs (``written``)."""
    (CATALOGS / FOLDER).mkdir(exist_ok=True)
    for path, text in written().items():
        path.write_text(text)
        print(path.relative_to(CATALOGS.parent))


if __name__ == "__main__":
    main()
