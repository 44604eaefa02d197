"""The intake drivers the shipped catalogs name (entry points ``intake.drivers``).

- ``table``: ``patchseq_table``, a release table (manifest or metadata);
- ``nwb_files``: ``patchseq_nwb_files``, each cell's NWB file as DANDI holds it;
- ``ephys``: ``patchseq_nwb``, cells' sweep tables and sweeps;
- ``nwb_file``: one local NWB file's (``patchseq_intake.read_nwb``; no catalog names it);
- ``parameters``: the user parameters they share.

Each driver is thin: it checks its parameters and calls the layers below.
May import ``access``, ``nwb``, ``dandi``, ``tables``, ``transport`` and the
top modules ``errors``, ``config`` and ``version``. Imported by the catalogs
through intake, by the command line and the GUI; never by anything below.
"""
