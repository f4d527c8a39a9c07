"""Enroll / verify / identify with an "unknown" threshold, backed by a vector index."""

from siamese.gallery._files import find_model_dir
from siamese.gallery._results import UNKNOWN, Identification, Match, Verification
from siamese.gallery.gallery import Gallery
from siamese.gallery.inputs import ItemSpec
from siamese.gallery.vector_index import VectorIndex

__all__ = [
    "UNKNOWN",
    "Gallery",
    "Identification",
    "ItemSpec",
    "Match",
    "Verification",
    "VectorIndex",
    "find_model_dir",
]
