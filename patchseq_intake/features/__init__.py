"""IPFX's features of a cell, computed by IPFX from the package's sweeps.

- ``ipfx_library``: IPFX itself (the optional extra ``features``), imported
  when first used, with a one-line error naming the extra where it is missing;
- ``ipfx_data``: a cell's sweep table and sweeps as an IPFX data set
  (``EphysDataSet`` over an ``EphysDataInterface``), so that IPFX's own
  extractors read exactly the package's sweeps;
- ``extraction``: which of IPFX's steps run, with which parameters: the
  per-cell features as ``ipfx/bin/run_feature_collection.py`` names them,
  and IPFX's per-sweep and per-spike tables.

The package computes no feature itself: every value is IPFX's.
May import ``nwb`` and the top module ``errors``.
"""
