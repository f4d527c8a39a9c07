"""siamese: one-shot recognition with Siamese networks."""

__version__ = "0.1.0"
