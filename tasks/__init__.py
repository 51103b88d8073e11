"""Pipeline steps: discover → extract → clean → write → load → model → export.

Each module holds pure functions; the Prefect ``@task`` wrappers sit on top so the
steps can be tested and reused without Prefect.
"""

PIPELINE_VERSION = "0.1.0"
