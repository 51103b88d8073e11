"""The batch workers' side: input files, reading and extraction, the batch tasks, fingerprints,
word counts, quarantine and the lake's rows. Never imports DuckDB or ``tasks.warehouse``."""

from ..memory import use_system_pool

use_system_pool()  # before the walk or a batch allocates anything
