"""Where examples come from: readers that all return one ``LabeledDataset``."""

from siamese.data._sources import (
    list_sources,
    load_source,
    read_source,
    register_source,
    source_options,
)
from siamese.data.arrays import read_arrays
from siamese.data.class_folders import read_class_folders
from siamese.data.csv_catalog import read_csv_catalog
from siamese.data.csv_windows import read_csv_windows
from siamese.data.image_file_store import ImageFileStore
from siamese.data.item_store import ArrayStore, ItemStore
from siamese.data.labeled_dataset import LabeledDataset
from siamese.data.lfw_pairs import read_lfw
from siamese.data.normaliser import Normaliser
from siamese.data.omniglot import OneShotRun, load_omniglot_runs, read_omniglot
from siamese.data.splits import class_disjoint_split, protocol_split
from siamese.data.tabular import read_tabular
from siamese.data.traffic import CHANNELS, PATTERNS, simulate_traffic
from siamese.data.ucr import read_ucr

__all__ = [
    "CHANNELS",
    "PATTERNS",
    "ArrayStore",
    "ImageFileStore",
    "ItemStore",
    "LabeledDataset",
    "Normaliser",
    "OneShotRun",
    "class_disjoint_split",
    "list_sources",
    "load_omniglot_runs",
    "load_source",
    "read_source",
    "protocol_split",
    "read_arrays",
    "read_class_folders",
    "read_csv_catalog",
    "read_csv_windows",
    "read_lfw",
    "read_omniglot",
    "read_tabular",
    "read_ucr",
    "register_source",
    "simulate_traffic",
    "source_options",
]
