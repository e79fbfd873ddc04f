"""ptrim: PolicyTrim post-training for efficient VLA policies."""

__version__ = "0.1.0"
