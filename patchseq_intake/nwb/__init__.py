"""Reading the release's NWB files (written by MIES) as IPFX 2.1.2 reads them, from an open HDF5 file.

- ``mies_series``: a sweep's series, chosen by type, headstage and device;
- ``devices``: which device recorded a series, and choosing among a sweep's devices;
- ``labnotebook``: lab notebook keys, column block by column block;
- ``stimulus``: stimulus codes and IPFX's stimulus names;
- ``sweep_table``: the sweep table (IPFX's columns, in IPFX's order, then ours: a row per device's sweep);
- ``sweeps``: what a sweep is made of, and its samples in IPFX's units;
- ``sweep``: the ``Sweep`` itself, and its drawing (matplotlib);
- ``spikes``: the spike times IPFX's pipeline appended (``processing/spikes``), by sweep;
- ``h5values``: the ways MIES and pynwb store one value;
- ``pynwb_file``: ``open_nwb``, the file as a pynwb ``NWBFile``.

Knows nothing of how the file was reached: imports only ``errors`` from
the package. ``access`` feeds it files and bytes.
"""
