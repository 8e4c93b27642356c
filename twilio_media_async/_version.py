"""The single source of the package version (read by the build backend too)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
