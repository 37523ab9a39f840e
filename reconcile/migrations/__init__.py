"""Forward-only schema migrations: ``NNNN_name.sql`` files applied in order."""
