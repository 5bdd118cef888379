"""User-facing errors: one line naming the argument, the value and the fix.

The CLI turns `SpikefaError` into a one-line message and exit code 2; library callers
see a `ValueError` subclass with the same text.
"""

from __future__ import annotations


class SpikefaError(ValueError):
    """A problem with what the user asked for (bad value, missing file, unknown name)."""


class DataError(SpikefaError):
    """A data file or directory is missing, truncated or malformed."""


class ConfigError(SpikefaError):
    """A model card, profile or run configuration holds a bad key or value."""
