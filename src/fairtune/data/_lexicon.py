"""Identity-term lexicons: one TSV per dimension, each row a swap set aligned across groups.

Format (see lexicons/gender.tsv):

    # fairtune lexicon: gender
    # source: <citation>            (at least one)
    @groups<TAB>male<TAB>female
    king<TAB>queen                  (one term per group; '-' = no counterpart)
    @probe<TAB>a gentleman<TAB>a lady
    @mitigate<TAB>gentlemen<TAB>ladies

Rows are swap sets: replacing a term by the term in the same row and another column gives the
counterfactual. `@probe` rows are noun phrases for the audit's templates (the evaluation side);
`@mitigate` rows are noun phrases that only mitigations use (the mitigation side). No phrase may be on
both sides, so the audit measures forms the mitigations never saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fairtune.errors import LEXICON_BAD, LEXICON_MISSING, LEXICON_UNKNOWN, ConfigError, DataError

#: The dimensions shipped with fairtune, in report order.
DIMENSIONS = (
    "gender", "race", "religion", "nationality", "sexual_orientation", "age", "disability", "surnames",
    "religion_names",
)  # fmt: skip
_GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class Lexicon:
    dimension: str
    groups: list[str]
    rows: list[list[str | None]]
    probes: list[list[str]]
    sources: list[str]
    path: str
    #: term (lowercase) -> (row index, group index)
    index: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: noun phrases for mitigations, aligned across groups like `probes`
    mitigation: list[list[str]] = field(default_factory=list)

    def terms(self) -> list[str]:
        return sorted(self.index)


def _bad(path: Path | str, line: int, problem: str) -> DataError:
    return DataError(LEXICON_BAD.format(path=path, line=line, problem=problem))


def parse_lexicon(text: str, path: Path | str, dimension: str) -> Lexicon:
    groups: list[str] | None = None
    rows: list[list[str | None]] = []
    probes: list[list[str]] = []
    mitigation: list[list[str]] = []
    sources: list[str] = []
    index: dict[str, tuple[int, int]] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("#"):
            body = line[1:].strip()
            if body.lower().startswith("source:") and body[7:].strip():
                sources.append(body[7:].strip())
            continue
        cells = [c.strip() for c in line.split("\t")]
        if cells[0] == "@groups":
            if groups is not None:
                raise _bad(path, lineno, "a second @groups line; a lexicon has one")
            groups = cells[1:]
            bad = [g for g in groups if not _GROUP_NAME.match(g)]
            if len(groups) < 2 or bad or len(set(groups)) != len(groups):
                raise _bad(
                    path, lineno, f"@groups needs 2+ distinct lowercase names (a-z, 0-9, _), got {groups}"
                )
            continue
        if groups is None:
            raise _bad(path, lineno, f"expected the @groups line before any term row, got {line!r}")
        if cells[0] in ("@probe", "@mitigate"):
            phrases = cells[1:]
            if len(phrases) != len(groups) or not all(phrases):
                raise _bad(
                    path, lineno, f"{cells[0]} needs {len(groups)} non-empty phrases, got {len(phrases)}"
                )
            (probes if cells[0] == "@probe" else mitigation).append([p.lower() for p in phrases])
            continue
        if cells[0].startswith("@"):
            raise _bad(path, lineno, f"unknown directive {cells[0]!r}; use @groups, @probe or @mitigate")
        if len(cells) != len(groups):
            raise _bad(
                path,
                lineno,
                f"{len(cells)} tab-separated field(s) for {len(groups)} groups {groups}: {line!r}",
            )
        row: list[str | None] = [None if c in ("-", "") else c.lower() for c in cells]
        if sum(c is not None for c in row) < 2:
            raise _bad(path, lineno, "a row needs terms for at least two groups")
        for gi, term in enumerate(row):
            if term is None:
                continue
            seen = index.get(term)
            if seen is not None and seen[0] != len(rows):
                raise _bad(path, lineno, f"term {term!r} already appears in another row")
            index.setdefault(term, (len(rows), gi))
        rows.append(row)
    if not sources:
        raise _bad(path, 1, "no '# source:' line; cite where the terms come from")
    if groups is None or not rows:
        raise _bad(path, 1, "no @groups line or no term rows")
    both = sorted({p for row in probes for p in row} & {p for row in mitigation for p in row})
    if both:
        raise _bad(path, 1, f"phrase(s) {both} are both @probe and @mitigate; keep the two sides apart")
    return Lexicon(dimension, groups, rows, probes, sources, str(path), index, mitigation)


def _packaged(dimension: str) -> str | None:
    res = resources.files("fairtune.data").joinpath("lexicons", f"{dimension}.tsv")
    return res.read_text(encoding="utf-8") if res.is_file() else None


def load_lexicons(dimensions: list[str], lexicon_dir: str | None = None, field: str = "") -> list[Lexicon]:
    """Lexicons for `dimensions`; a file in `lexicon_dir` named <dimension>.tsv replaces the packaged one."""
    out = []
    if lexicon_dir is not None and not Path(lexicon_dir).is_dir():
        raise ConfigError(LEXICON_MISSING.format(field=f"{field}.lexicon_dir", path=lexicon_dir))
    for dim in dimensions:
        user = Path(lexicon_dir) / f"{dim}.tsv" if lexicon_dir else None
        if user is not None and user.is_file():
            out.append(parse_lexicon(user.read_text(encoding="utf-8"), user, dim))
            continue
        text = _packaged(dim)
        if text is None:
            where = f" or {lexicon_dir}/{dim}.tsv" if lexicon_dir else ""
            raise ConfigError(
                LEXICON_UNKNOWN.format(
                    field=f"{field}.dimensions", dim=dim, where=where, known=", ".join(DIMENSIONS)
                )
            )
        out.append(parse_lexicon(text, f"fairtune/data/lexicons/{dim}.tsv", dim))
    return out
