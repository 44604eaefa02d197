"""Reaching a cell's NWB file: downloaded whole, streamed by ranges, or a local copy.

- ``modes``: the access modes (``download``, ``stream``, ``local``);
- ``opening``: a cell's file opened by mode, verified against DANDI's checksums;
- ``cell_reader``: a cell's sweep table and sweeps, through its index where
  there is one, with the cheapest safe first contact;
- ``cell_index``: each file's index (sweep tables, where every series'
  samples lie), built once, checked and cached;
- ``stored_arrays``: where a dataset's bytes lie in the file, and decoding them;
- ``hdf5_layout``, ``table_prefetch``: HDF5 headers and the sweep table's
  reads fetched a level or a wave ahead.
- ``expression_store``: an expression matrix's store (``transcriptomes``) in the cache: converted once, checked on use.
- ``cell_features``: a cell's IPFX features (``features``), computed from its sweeps once and cached.

May import ``nwb``, ``morphology``, ``transcriptomes``, ``features``, ``dandi``,
``archives``, ``tables``, ``transport`` and the top modules ``errors`` and
``config``.
"""
