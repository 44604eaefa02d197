"""The release's files that are not on DANDI: SWC reconstructions on BIL, transcriptomes on NeMO.

- ``homes``: where each manifest row's file lives today: the catalog's rewrites of the manifest's
  dead ``archive_uri`` (BIL's FTP server, NeMO's old folder) to live URLs, under base URLs the
  user may point elsewhere (``PATCHSEQ_INTAKE_BIL``, ``PATCHSEQ_INTAKE_NEMO``);
- ``release_files``: every such manifest row as a ``ReleaseFile`` (the manifest's name, size and
  SHA-256, its live locations), and the ``files`` table of them;
- ``found``: what a fetch found at a file's home (URL, name, SHA-256, whether it matched), kept in the cache;
- ``fetching``: a release file's bytes, fetched (a tar's member extracted), verified against the
  manifest's SHA-256 and cached; other bytes only where the user accepts them.

May import ``tables``, ``transport`` and the top modules ``errors`` and ``config``.
"""
