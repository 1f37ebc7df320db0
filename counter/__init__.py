"""counter: a self-hosted async visitor-counter and poll service."""

__version__ = "0.1.0"
