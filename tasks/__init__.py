"""The pipeline's steps, grouped by where their code runs.

- ``cleaning/``: the pure cleaning engine (no Prefect, no DuckDB, no I/O).
- ``ingest/``: the batch workers' side: input files, reading and HTML extraction, the batch tasks,
  fingerprints and word counts, quarantine, the lake's schema and rows. Never DuckDB.
- ``warehouse/``: the flow's own process, the only one that opens DuckDB: lock, plan, load,
  models, search, export; it alone creates the ``meta.*`` tables.

``options`` (RunOptions, RunContext), ``layout`` (WarehouseLayout, atomic writes), ``memory``
(Arrow's pool, freed heap given back) and ``crashpoints`` are shared by all three.
"""

PIPELINE_VERSION = "0.1.0"
