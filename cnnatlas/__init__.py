"""cnnatlas: a static atlas of what a convolutional network sees."""

__version__ = "0.1.0"
