"""Reading the release's reconstructions: SWC files and Vaa3D marker files, from their bytes.

Knows nothing of how the file was reached: imports only ``errors`` from the package.
"""
