"""Prefect flows, the deployment and the ``news-etl`` command line."""
