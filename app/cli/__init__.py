"""Commands of ``python -m app`` that are clients of the service (over its HTTP API)."""
