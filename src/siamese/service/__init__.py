"""The HTTP API over a Gallery (FastAPI + uvicorn)."""

from siamese.service.app import create_app

__all__ = ["create_app"]
