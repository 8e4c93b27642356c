"""Bulk jobs: fetch-many, delete-many and the archive, over inputs of any size, resumable
and split between workers.

- ``input``: the sids of a file or a pipe, read lazily, and which a run sends (shards,
  ``--resume``);
- ``output``: the records written, one whole line each (JSON lines, CSV, delete-many's
  log), and what a resumed run reads back (torn lines, the scan);
- ``run``: the loop from the SDK's results to the output, with the input and output
  opened around it;
- ``report``: the counters, the progress bar and the summary;
- ``manifest``: the archive's output file;
- ``sidset``: the compact set of sids that a resumed run remembers.

The modules are imported by name; this package imports none of them.
"""
