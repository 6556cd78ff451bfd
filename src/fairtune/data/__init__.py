"""Data: read files or datasets, validate them, split, encode labels, and describe them in a data card."""

from fairtune.data._card import build_data_card, normalize
from fairtune.data._load import LabelledData, TaskData, load_task_data, read_texts
from fairtune.data._read import Table, read_table

__all__ = [
    "LabelledData",
    "Table",
    "TaskData",
    "build_data_card",
    "load_task_data",
    "normalize",
    "read_table",
    "read_texts",
]
