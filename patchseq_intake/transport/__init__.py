"""Moving bytes: HTTP with retries and verification, range reads, the cache.

- ``answers``: one request and its answer read with bounds (at most the
  bytes asked for, no encoding not asked for, a stall rule from
  ``PATCHSEQ_INTAKE_TIMEOUT``), retries, JSON with a size and depth cap;
  ``sessions``: the HTTP sessions they are sent with (identity encoding, an
  answer's headers bounded in time);
- ``download``: GET with retries, resume and a SHA-256 / dandi-etag check;
  single range requests with their ``Content-Range`` checked;
- ``tar_members``: files taken out of a downloaded tar by name, streamed and hashed;
- ``ranges``: many ranges merged and fetched concurrently, in one wave;
- ``remote_file``: a read-only file over range requests, for h5py;
- ``cache``: one maker per cached file across processes, and the cache's
  OS errors named; ``verified``: cached files checked on use against what
  they were verified as; ``atomic``: files appear whole or not at all;
  ``sealed``: JSON files carrying the SHA-256 of their own content;
  ``checksums``: SHA-256 and dandi-etag; ``progress``: progress bars for
  long transfers.

The bottom of the pipeline: imports only ``errors`` and ``config`` from the
package, and knows nothing of tables, DANDI or NWB.
"""
