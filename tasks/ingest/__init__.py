"""The batch workers' side: input files, reading and extraction, the batch tasks, fingerprints,
word counts, quarantine and the lake's rows. Never imports DuckDB or ``tasks.warehouse``."""
