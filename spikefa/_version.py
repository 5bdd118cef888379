"""The one place the version lives (pyproject reads it through setuptools' attr)."""

__version__ = "0.1.0"
