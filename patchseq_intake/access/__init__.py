"""Reaching a cell's NWB file: downloaded whole, streamed by ranges, or a local copy.

- ``modes``: the access modes (``download``, ``stream``, ``local``);
- ``opening``: a cell's file opened by mode, verified against DANDI's checksums;
- ``cell_reader``: a cell's sweep table and sweeps, through its index where
  there is one, with the cheapest safe first contact;
- ``first_contact``: walk a file's headers or download it, whichever the measured link makes cheaper;
- ``cell_index``: each file's index (sweep tables, where every series'
  samples lie), built once, checked and cached;
- ``index_store``: indexes shared beyond one cache (a folder, a bucket, a web server);
- ``stored_arrays``: where a dataset's bytes lie in the file, and decoding them;
- ``table_prefetch``, ``walk_rounds``: what a first contact reads, as tasks tried
  against the fetched bytes, their misses fetched a wave at a time;
- ``hdf5_layout``, ``hdf5_v2``, ``hdf5_attributes``: HDF5 structures read from
  the bytes (version-1 and version-2 headers, B-trees, heaps) to find the next
  wave's addresses.
- ``expression_store``: an expression matrix's store (``transcriptomes``) in the cache: converted once, checked on use.
- ``cell_features``: a cell's IPFX features (``features``), computed from its sweeps once and cached.

May import ``nwb``, ``morphology``, ``transcriptomes``, ``features``, ``dandi``,
``archives``, ``tables``, ``transport`` and the top modules ``errors`` and
``config``.
"""
