"""The release's expression matrices (genes x samples CSV files), converted once into a store read by selection.

- ``matrix_csv``: a matrix's CSV read in blocks of gene rows, exact to the last bit, its faults named by line;
- ``matrix_store``: ``convert`` (the CSV into an HDF5 store, one pass, bounded memory) and ``MatrixStore``
  (any genes x samples read without the rest: ``select``, ``missing``, ``duplicated_genes``).

Knows nothing of how the file was reached, nor of the cache (``access.expression_store`` keeps the stores):
imports only ``errors`` from the package.
"""
