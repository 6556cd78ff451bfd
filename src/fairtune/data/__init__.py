"""Data: read files or datasets, validate them, split, encode labels, and describe them in a data card."""

from fairtune.data._canary import Canaries, exposure, make_canaries
from fairtune.data._card import build_data_card, normalize
from fairtune.data._coerce import labelled_data
from fairtune.data._counterfactual import Counterfactuals, augment, make_counterfactuals
from fairtune.data._lexicon import DIMENSIONS, Lexicon, load_lexicons, parse_lexicon
from fairtune.data._load import LabelledData, TaskData, load_task_data, read_texts, stratified_split
from fairtune.data._read import Table, read_table
from fairtune.data._swap import PRONOUN_WORDS, Swapper, make_swappers
from fairtune.data._wordnet import load_wordnet, prepare_wordnet
from fairtune.data._write import write_jsonl

__all__ = [
    "DIMENSIONS",
    "PRONOUN_WORDS",
    "Canaries",
    "Counterfactuals",
    "LabelledData",
    "Lexicon",
    "Swapper",
    "Table",
    "TaskData",
    "augment",
    "build_data_card",
    "exposure",
    "labelled_data",
    "load_lexicons",
    "load_task_data",
    "load_wordnet",
    "make_canaries",
    "make_counterfactuals",
    "make_swappers",
    "normalize",
    "parse_lexicon",
    "prepare_wordnet",
    "read_table",
    "read_texts",
    "stratified_split",
    "write_jsonl",
]
