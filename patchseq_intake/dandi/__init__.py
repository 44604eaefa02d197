"""From a cell to its NWB file on DANDI.

- ``answers``: what a DANDI API answers (pages, checksums, ids, paths,
  sizes), checked against DANDI's formats before any of it is used;
- ``assets``: a dandiset version's asset listing (shipped, or fetched once
  from the DANDI API), its checksums and blob URLs;
- ``nwb_files``: each cell's file as DANDI holds it, found by the manifest's
  path or the cell's session; the manifest's checksums compared;
- ``cells``: the cells a user selects (ids, filters), checked, and their files;
- ``recordings``: DANDI's metadata of the recording in an asset (donor,
  session, species, sex, age), from listings and API answers, checked;
- ``dandisets``: the Allen Patch-seq dandisets the catalog knows (ids,
  short names, pinned versions, shipped listings);
- ``sessions``: one table of every recording across dandisets, a row per
  session (identical copies merged, differing copies kept apart);
- ``recording_files``: a dandiset's recordings selected by session id or
  filters, and their files.

May import ``tables``, ``transport`` and the top modules ``errors`` and ``config``.
"""
