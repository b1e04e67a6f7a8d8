"""Tongpin's hub: the ASGI app, its endpoints, configuration and CLI."""

__version__ = "0.1.0"
