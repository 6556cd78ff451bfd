"""WordNet from Debian's `wordnet-base` package, read with NLTK's `WordNetCorpusReader`.

Debian ships the WordNet 3.0 database in /usr/share/wordnet but not the `lexnames` file NLTK needs,
and NLTK refuses symlinked corpora. So the first use copies the database once into a cache folder
(atomically: a temporary folder renamed into place) and writes `lexnames` there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from fairtune.errors import WORDNET_MISSING, ConfigError

DEFAULT_WORDNET = "/usr/share/wordnet"
#: WordNet 3.0's lexicographer files (lexnames(5WN)): number, name, syntactic category.
LEXNAMES = """
    adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body
    noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location
    noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process
    noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change
    verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation
    verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather
    adj.ppl
""".split()  # noqa: SIM905
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_NEEDED = (
    "data.noun",
    "data.verb",
    "data.adj",
    "data.adv",
    "index.noun",
    "index.verb",
    "index.adj",
    "index.adv",
)


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairtune" / "wordnet"


def prepare_wordnet(source: str | None = None, field: str = "wordnet") -> Path:
    """A folder NLTK can read: a copy of `source` plus `lexnames`. Raises a clear error if missing."""
    src = Path(source or os.environ.get("FAIRTUNE_WORDNET") or DEFAULT_WORDNET)
    missing = [f for f in _NEEDED if not (src / f).is_file()]
    if missing:
        raise ConfigError(WORDNET_MISSING.format(field=field, path=src, missing=", ".join(missing[:3])))
    if (src / "lexnames").is_file():
        return src  # already an NLTK-style folder
    key = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:12]
    dest = _cache_root() / key / "corpora" / "wordnet"  # NLTK's data layout
    if (dest / "lexnames").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".tmp-"))
    try:
        for f in src.iterdir():
            if f.is_file():
                shutil.copyfile(f, tmp / f.name)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race; its copy is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


@lru_cache(maxsize=4)
def load_wordnet(source: str | None = None, field: str = "wordnet") -> Any:
    """NLTK's WordNetCorpusReader over Debian's WordNet 3.0."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = prepare_wordnet(source, field)
    data_dir = str(root.parent.parent) if root.parent.name == "corpora" else str(root)
    # nltk >= 3.10 reads corpora only under authorised roots, and the reader looks the corpus up again
    # by name ("corpora/wordnet") to map sense keys, so the data folder goes on nltk's search path.
    if data_dir not in nltk.data.path:
        nltk.data.path.insert(0, data_dir)
    import warnings

    class WordNet30Reader(WordNetCorpusReader):  # type: ignore[misc]
        """nltk 3.10.4 maps every database that does not call itself "wordnet" onto NLTK's own
        WordNet, for the multilingual (OMW) functions; the mapping reads index.sense, which Debian's
        package lacks. fairtune uses English WordNet 3.0 only, so no mapping is needed: skip it."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    with warnings.catch_warnings():  # "multilingual functions are not available": we use English only
        warnings.simplefilter("ignore", UserWarning)
        return WordNet30Reader(str(root), None)
