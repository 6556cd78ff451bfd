"""Sentence templates with an identity slot `{x}`, labelled positive, negative or neutral.

Two sides that never meet: the audit's templates (the evaluation side: `audits/fairness/templates.txt`
and `identity_templates.tsv`) and the mitigations' (`mitigations/templates.tsv`). A user may replace
either side with a file of their own; the same checks apply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fairtune.data._lexicon import Lexicon
from fairtune.errors import (
    BINARY_TEMPLATES,
    POSITIVE_LABEL_UNKNOWN,
    TEMPLATE_BAD,
    TEMPLATE_HOLDS_TERM,
    TEMPLATES_EMPTY,
    TEMPLATES_MISSING,
    ConfigError,
)

SLOT = "{x}"
LABELS = ("positive", "negative", "neutral")


@dataclass(frozen=True)
class Template:
    label: str
    text: str
    line: int
    path: str

    def fill(self, phrase: str) -> str:
        return fill(self.text, phrase)


def fill(template: str, phrase: str) -> str:
    """The template with `phrase` in its slot; a sentence that opens with the slot gets a capital."""
    out = template.replace(SLOT, phrase)
    return out[:1].upper() + out[1:] if template.startswith(SLOT) else out


def parse_templates(text: str, path: str, field: str, labels: tuple[str, ...] = LABELS) -> list[Template]:
    """Lines of <label><TAB><template>; '#' lines are comments. Every problem is reported at once."""
    out: list[Template] = []
    problems: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        label, tab, template = line.partition("\t")
        template = template.strip()
        problem = None
        if not tab:
            problem = f"no TAB between label and template in {line!r}"
        elif label not in labels:
            problem = f"label {label!r} is not one of {', '.join(labels)}"
        elif template.count(SLOT) != 1:
            problem = f"template {template!r} has {template.count(SLOT)} {SLOT} slots, not one"
        if problem:
            problems.append(TEMPLATE_BAD.format(field=field, path=path, line=lineno, problem=problem))
        else:
            out.append(Template(label, template, lineno, path))
    if problems:
        raise ConfigError(problems)
    if not out:
        raise ConfigError(TEMPLATES_EMPTY.format(field=field, path=path))
    return out


def read_templates(
    path: str | None, packaged: tuple[str, str], field: str, labels: tuple[str, ...] = LABELS
) -> list[Template]:
    """The templates in `path`, or the packaged file (package, file name) when `path` is None."""
    if path is None:
        package, name = packaged
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
        return parse_templates(text, f"{package.replace('.', '/')}/{name}", field, labels)
    if not Path(path).is_file():
        raise ConfigError(TEMPLATES_MISSING.format(field=field, path=path))
    return parse_templates(Path(path).read_text(encoding="utf-8"), path, field, labels)


def positive_index(labels: Sequence[str], wanted: str | None, field: str) -> int:
    """The label whose probability is 'the positive score': `wanted`, else one named like positive, else
    the last."""
    if wanted is not None:
        if wanted not in labels:
            raise ConfigError(POSITIVE_LABEL_UNKNOWN.format(field=field, label=wanted, labels=list(labels)))
        return list(labels).index(wanted)
    lower = [lab.lower() for lab in labels]
    for name in ("positive", "pos", "1", "true", "yes"):
        if name in lower:
            return lower.index(name)
    return len(labels) - 1


def template_label_ids(labels: Sequence[str], wanted: str | None, field: str) -> dict[str, int]:
    """{'positive': id, 'negative': id} for a binary task; templates speak of positive and negative."""
    if len(labels) != 2:
        raise ConfigError(BINARY_TEMPLATES.format(field=field, labels=list(labels)))
    pos = positive_index(labels, wanted, field)
    return {"positive": pos, "negative": 1 - pos}


def _has(term: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text, flags=re.IGNORECASE) is not None


def terms_in_templates(templates: list[Template], lexicons: list[Lexicon], field: str) -> list[str]:
    """A problem for each evaluation template that holds a lexicon term or phrase of any side."""
    problems = []
    for lex in lexicons:
        terms = {*lex.index, *(p for row in [*lex.probes, *lex.mitigation] for p in row)}
        for t in templates:
            body = t.text.replace(SLOT, " ")
            for term in sorted(terms):
                if _has(term, body):
                    problems.append(
                        TEMPLATE_HOLDS_TERM.format(
                            field=field,
                            template=t.text,
                            path=t.path,
                            line=t.line,
                            dimension=lex.dimension,
                            term=term,
                        )
                    )
    return problems
