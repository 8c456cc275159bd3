"""dbbuilder: compile vulnerability feeds into a signed, compressed bundle (connected side)."""

from scanner import __version__

__all__ = ["__version__"]
