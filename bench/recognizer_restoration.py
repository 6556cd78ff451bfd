"""How often the word-recognition front end restores a mistyped word, per setting of its noisy channel,
on training texts the front end never saw: how its settings were chosen, without the eval split.

    .venv/bin/python bench/recognizer_restoration.py [--held-out 1500] [--seed 0]

SST-2's training split holds whole sentences and their sub-phrases. `--held-out` sentences (phrases of 8
words or more, drawn with `--seed`) are set aside, and every training phrase that is part of one of them
is left out too; the front end is built from the rest as training builds it (`min_count` 2, the same
known-word lists). Each held-out sentence then gets each of fairtune's own typo perturbations once
(typo_adjacent_key, typo_drop, typo_insert, typo_ocr: the invariance audit's functions, with their own
random word), and the front end reads it: the mistyped word is *restored* (the original word back),
*kept* (left as it is), or made a *wrong* word. `changed_clean` counts words changed in the clean
sentences, per 1,000 words. Settings: `edit` and `first_letter` (costs in nats of an edit and of a changed
first letter), `smoothing` (the context model's pseudo-count of backing off from training bigrams to word
counts), `min_length` (shorter words are never changed), with the context model or, at keep None,
without it (word counts alone).
`keep` (nats) lets the word stay as it is when no candidate beats an unknown word in its context by more
than -keep (None: a word with a candidate is always changed). The chosen setting, the package default,
has the largest `net`: restored minus wrong per typo, less the clean words changed per typo (each word
the front end puts wrong costs what a restored one gains).
Results: bench/results/<host-class>/recognizer_restoration.json.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2_glue" / "train.tsv"
PERTURBATIONS = ("typo_adjacent_key", "typo_drop", "typo_insert", "typo_ocr")
EDIT = (8.0, 12.0, 16.0)
FIRST_LETTER = (0.0, 3.0)
MIN_LENGTH = (3, 4)
KEEP = (None, -24.0, -16.0, -12.0)
SMOOTHING = (1.0, 5.0, 25.0)
SETTING = ("context", "min_length", "edit", "first_letter", "keep", "smoothing")


def split(seed: int, held_out: int) -> tuple[list[str], list[str]]:
    """(building texts, held-out sentences): no building text is part of a held-out sentence."""
    import csv

    with TRAIN.open(newline="") as f:
        texts = [row["sentence"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    long = sorted({t for t in texts if len(t.split()) >= 8})
    held = random.Random(seed).sample(long, held_out)
    joined = "\n".join(held)
    return [t for t in texts if t.strip() not in joined], held


def known_words() -> list[str]:
    """The real words training protects, for the default model's tokenizer."""
    from transformers import AutoTokenizer

    from fairtune.models._recognition import known_words as protected_words
    from fairtune.models._resolve import resolve_model

    return protected_words(AutoTokenizer.from_pretrained(resolve_model("minilm")[0]))[0]


def typo_cases(held: list[str], seed: int) -> list[tuple[str, str, int, str]]:
    """(perturbation, mistyped sentence, index of the mistyped word, the word it was)."""
    from fairtune.audits.robustness import _perturb, _wording
    from fairtune.models._recognition import _WORD

    funcs = {name: getattr(_perturb, name, None) or getattr(_wording, name) for name in PERTURBATIONS}
    cases = []
    for (i, text), (name, fn) in itertools.product(enumerate(held), funcs.items()):
        out = fn(text, random.Random(f"{seed}-{i}-{name}"))
        before, after = _WORD.findall(text), _WORD.findall(out or "")
        diff = [k for k, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
        if out and len(before) == len(after) and len(diff) == 1:
            cases.append((name, out, diff[0], before[diff[0]].lower()))
    return cases


def score(rec: Any, cases: list[tuple[str, str, int, str]], held: list[str]) -> dict[str, Any]:
    from fairtune.models._recognition import _WORD

    out: dict[str, Any] = {}
    for name in PERTURBATIONS:
        mine = [c for c in cases if c[0] == name]
        tally = {"restored": 0, "kept": 0, "wrong": 0}
        for _, text, k, word in mine:
            typo, got = _WORD.findall(text)[k].lower(), _WORD.findall(rec([text])[0])[k].lower()
            tally["restored" if got == word else "kept" if got == typo else "wrong"] += 1
        out[name] = {key: n / len(mine) for key, n in tally.items()} | {"n": len(mine)}
    words = sum(len(_WORD.findall(t)) for t in held)
    changed = sum(
        a != b for t in held for a, b in zip(_WORD.findall(t), _WORD.findall(rec([t])[0]), strict=True)
    )
    out["all"] = {key: sum(out[n][key] * out[n]["n"] for n in PERTURBATIONS) / len(cases) for key in
                  ("restored", "kept", "wrong")}  # fmt: skip
    out["changed_clean"] = changed
    out["changed_clean_per_1000_words"] = 1000 * changed / words
    return out


def measure(
    rec: Any, setting: dict[str, Any], cases: list[tuple[str, str, int, str]], held: list[str]
) -> dict:
    """`setting` with its scores; `net` counts a word put wrong (a typo made another word, a clean word
    changed) as costing what a restored one gains."""
    from fairtune.models._recognition import Channel

    channel = Channel(**{k: v for k, v in setting.items() if k not in ("context", "min_length")})
    rec = rec.configured(channel, setting["min_length"])
    result = score(rec, cases, held)
    a = result["all"]
    net = a["restored"] - a["wrong"] - result["changed_clean"] / len(cases)
    print(f"{setting}: restored {a['restored']:.3f} kept {a['kept']:.3f} wrong {a['wrong']:.3f}; "
          f"clean {result['changed_clean_per_1000_words']:.2f}/1000; net {net:.3f}", flush=True)  # fmt: skip
    return {**setting, "net": net, **result}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--held-out", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from dataclasses import asdict

    from fairtune.config._schema import WordRecognitionConfig
    from fairtune.models._recognition import Channel, WordRecognizer

    building, held = split(args.seed, args.held_out)
    full = WordRecognizer.build(building, known_words())
    bare = WordRecognizer(full.counts, full.protected, {})  # the same words, no word pairs
    cases = typo_cases(held, args.seed)
    grid = [
        *itertools.product([True], MIN_LENGTH, EDIT, FIRST_LETTER, KEEP, SMOOTHING),
        *itertools.product([False], MIN_LENGTH, EDIT, FIRST_LETTER, KEEP[:1], SMOOTHING[:1]),
    ]
    settings = [measure(full if values[0] else bare, dict(zip(SETTING, values, strict=True)), cases, held)
                for values in grid]  # fmt: skip
    best = max(settings, key=lambda s: s["net"])
    defaults = {
        "context": True,
        "min_length": WordRecognitionConfig.model_fields["min_length"].default,
        **asdict(Channel()),
    }
    default = next(s for s in settings if all(s[k] == defaults[k] for k in SETTING))
    doc = {
        "held_out_sentences": len(held),
        "building_texts": len(building),
        "cases": len(cases),
        "dictionary": len(full.counts),
        "protected": len(full.protected),
        "bigrams": len(full.bigrams),
        "settings": settings,
        "best": {k: best[k] for k in SETTING},
        "default": {k: default[k] for k in SETTING},
        "default_is_best": default is best,
        "command": "bench/recognizer_restoration.py " + " ".join(sys.argv[1:]),
    }
    print("best:", doc["best"], "default:", doc["default"])
    print("wrote", write_results("recognizer_restoration", doc))


if __name__ == "__main__":
    main()
