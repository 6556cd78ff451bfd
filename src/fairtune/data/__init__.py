"""Data: read files or datasets, validate them, split, and encode labels."""

from fairtune.data._load import LabelledData, TaskData, load_task_data, read_texts
from fairtune.data._read import Table, read_table

__all__ = ["LabelledData", "Table", "TaskData", "load_task_data", "read_table", "read_texts"]
