"""Reading the release's reconstructions: SWC files and Vaa3D marker files, from their bytes.

- ``swc``: ``read_swc(data, source)`` -> ``Reconstruction`` (``points``: one row per sample,
  ``id, type, x, y, z, radius, parent``, µm; ``comments``: the header's); ``SWC_TYPES``;
- ``markers``: ``read_markers(data, source)`` -> a table of the markers (x, y, z as written, the code
  in ``name`` and its ``marker_type``); the Allen's codes and the one-voxel offset (``ONE_VOXEL_UM``);
- ``libraries``: ``load_morphio(path)``, ``load_neurom(path)``: a file as an object of those libraries,
  for morphometrics (the optional extra ``morphology``); which SWC variants they take;
- ``text``: bytes to text, refusing what is no text file (an HTML page, gzip), and errors naming a line.

Errors are ``ReleaseFileFormatError``: the file (URL or path), the line and what would be right.
Knows nothing of how the file was reached: imports only ``errors`` from the package.
"""
