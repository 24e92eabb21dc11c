"""Persistence: one schema on SQLite (default) or PostgreSQL, reached only through repository protocols."""
