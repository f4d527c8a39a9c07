"""Enroll / verify / identify with an "unknown" threshold, backed by a vector index; discover new
classes among the unknowns."""

from siamese.gallery._files import find_model_dir
from siamese.gallery._results import UNKNOWN, Identification, Match, Verification
from siamese.gallery.discover import Cluster, Discovery
from siamese.gallery.gallery import Gallery
from siamese.gallery.inputs import ItemSpec
from siamese.gallery.vector_index import VectorIndex

__all__ = [
    "UNKNOWN",
    "Cluster",
    "Discovery",
    "Gallery",
    "Identification",
    "ItemSpec",
    "Match",
    "Verification",
    "VectorIndex",
    "find_model_dir",
]
