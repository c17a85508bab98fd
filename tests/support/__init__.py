"""Shared test infrastructure: the real Docker engine and registry, cleanup, leak checks."""
