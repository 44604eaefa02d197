"""The release's expression matrices (genes x samples CSV files), converted once into a store read by selection.

Knows nothing of how the file was reached: imports only ``errors`` from the package.
"""
