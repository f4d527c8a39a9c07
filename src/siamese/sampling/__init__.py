"""What the model sees each step: pair, triplet and P x K batch generators."""

from siamese.sampling._batch import Batch, BatchGenerator, unique_batch
from siamese.sampling.pair_generator import PairGenerator
from siamese.sampling.pair_list_generator import PairListGenerator
from siamese.sampling.pk_generator import PKGenerator
from siamese.sampling.triplet_generator import TripletGenerator

__all__ = [
    "Batch",
    "BatchGenerator",
    "PKGenerator",
    "PairGenerator",
    "PairListGenerator",
    "TripletGenerator",
    "unique_batch",
]
