"""Settlement service for off-site medical claims."""

__version__ = "0.1.0"
