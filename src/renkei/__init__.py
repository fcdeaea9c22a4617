"""Renkei: a self-hosted hub that connects marketing tools."""

__version__ = "0.1.0"
