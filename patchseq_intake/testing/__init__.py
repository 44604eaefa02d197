"""Local stand-ins for the network services the package talks to, and synthetic NWB files, for tests and the demo.

``server`` (an HTTP server on 127.0.0.1 with faults), ``hostile`` (one on raw
sockets that misbehaves as no honest server does: endless, compressed or
dripping bodies, silence, redirect loops), ``dandi`` (a DANDI API
replica), ``physiology`` and ``traces`` (what synthetic cells hold),
``mies`` and ``nwb`` (files written as MIES wrote the release's, or with
pynwb), ``mies_recorded`` (the release's content placed as a recording program places it, with knobs that change
a header walk) and ``waves`` (a cold first contact's round trips, counted on a ``LocalServer``), ``archives`` (BIL and NeMO stand-ins: SWC files, NeMO's tars, the manifest rows describing them),
``morphology`` and ``transcriptomes`` (synthetic reconstructions and expression matrices, with their truth), ``mies_devices`` (several devices on one headstage, as MIES's test file), ``mies_newer`` (the release's cell as later MIES versions write it, and variants no MIES writes), ``recordings`` (recordings of dandisets beyond 2020 in a DANDI replica), ``labnotebook``, ``tables`` and ``world`` (all of it together), ``damage``
(a cached file's byte changed, its stamp moved or kept).

May import the catalog and everything below it; imported only by the demo
(``cli.demo``, ``gui --demo``) and the tests, never on a user's data path.
"""
