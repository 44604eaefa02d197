"""The intake drivers the shipped catalogs name (entry points ``intake.drivers``).

- ``table``: ``patchseq_table``, a release table (manifest or metadata);
- ``nwb_files``: ``patchseq_nwb_files``, each cell's NWB file as DANDI holds it;
- ``sessions``: ``patchseq_sessions``, every Allen Patch-seq recording (a row per session), or one dandiset's;
- ``cell_selection``: the cells an ``ephys`` or ``features`` entry selects, and how their files are reached;
- ``ephys``: ``patchseq_nwb``, cells' sweep tables and sweeps;
- ``features``: ``patchseq_features``, IPFX's features of cells, one row per cell;
- ``nwb_file``: one local NWB file's (``patchseq_intake.read_nwb``; no catalog names it);
- ``release_files``: ``patchseq_release_files``, the ``files`` tables: BIL's and NeMO's files, where they are today;
- ``morphology``: ``patchseq_morphology``, cells' reconstructions (SWC points, marker files);
- ``transcriptomics``: ``patchseq_transcriptomics``, cells x genes from the release's expression matrices;
- ``parameters``: the user parameters they share;
- ``frame``: what ``nwb_files`` and ``sessions`` share: a table computed once and read whole.

Each driver is thin: it checks its parameters and calls the layers below.
May import ``access``, ``nwb``, ``morphology``, ``transcriptomes``, ``features``, ``dandi``, ``archives``, ``tables``,
``transport`` and the
top modules ``errors``, ``config`` and ``version``. Imported by the catalogs
through intake, by the command line and the GUI; never by anything below.
"""
