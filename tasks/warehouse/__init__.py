"""The flow's own process: the warehouse lock, the plan, the load, the SQL models, search and
exports. The only code that opens DuckDB, and the only owner of the ``meta.*`` tables."""
