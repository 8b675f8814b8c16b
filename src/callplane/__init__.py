"""callplane: an open-source control plane for AI phone calls."""

__version__ = "0.1.0"
