"""LMS backend: a thin JSON-RPC 2.0 layer over PostgreSQL, where the rules live."""

__version__ = "0.1.0"
