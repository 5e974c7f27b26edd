"""Shared infrastructure: database, errors, identifiers, time."""
