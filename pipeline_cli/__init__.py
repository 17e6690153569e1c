"""pipe: run data pipelines declared in YAML on one machine."""

__version__ = "0.1.0"
