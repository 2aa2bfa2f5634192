"""Dashboard figures computed by SQL aggregation in PostgreSQL (selectors: they only read)."""
