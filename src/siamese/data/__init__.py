"""Where examples come from: readers that all return one ``LabeledDataset``."""

from siamese.data._sources import list_sources, load_source, register_source, source_options
from siamese.data.item_store import ArrayStore, ItemStore
from siamese.data.labeled_dataset import LabeledDataset
from siamese.data.normaliser import Normaliser
from siamese.data.splits import class_disjoint_split, protocol_split
from siamese.data.traffic import CHANNELS, PATTERNS, simulate_traffic

__all__ = [
    "CHANNELS",
    "PATTERNS",
    "ArrayStore",
    "ItemStore",
    "LabeledDataset",
    "Normaliser",
    "class_disjoint_split",
    "list_sources",
    "load_source",
    "protocol_split",
    "register_source",
    "simulate_traffic",
    "source_options",
]
