"""perfgate: a performance gate for pull requests of HTTP services."""

__version__ = "0.1.0"
