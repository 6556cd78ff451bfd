"""fairtune's invariance and counterfactual-swap audits side by side with LangTest's robustness and bias
tests: the same SST-2 MiniLM model, the same sentences, one run.

Run from the project root:

    .venv/bin/python bench/peers.py [--n 200] [--seed 0] [--threads 1]

1. `bench/langtest_env.sh` builds LangTest's own virtualenv (bench/.venv-langtest; its pins clash with
   the project's: transformers 4 and pandas 2 there, transformers 5 and pandas 3 here).
2. N SST-2 dev sentences, chosen by `numpy.random.default_rng(seed).permutation`, are written once to
   bench/logs/peers/sentences.csv (columns text,label; the GLUE file's trailing space is stripped).
3. LangTest (`bench/_langtest_runner.py`, in its venv, as a subprocess) loads the run's model folder as a
   transformers pipeline and runs every LangTest test of CATEGORIES in one Harness.
4. fairtune, in this process, loads the run folder (`fairtune.classifier`) and runs every category's
   perturbation in one call of the robustness audit's `invariance` and one of the fairness audit's
   `counterfactual_swaps`.

In both tools a failure is a perturbed sentence whose predicted label differs from the original's
(LangTest: `SequenceClassificationOutput.__eq__` compares the top labels; fairtune: `prediction_changes`),
and a sentence that a perturbation does not change is not counted. Each side's wall time runs from
loading the model to having every rate (imports are recorded apart). A category's wall time comes from
running its tests again, alone, on the loaded model. Both sides use the same torch thread count (default
1: on 2 shared cores a second thread only spins against whatever else runs; `load_note` records the
load average).

Results: bench/results/<host-class>/peers.json; logs under bench/logs/peers/.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from _common import ROOT, write_results

DEV = ROOT.parent / "shared" / "data" / "sst2_glue" / "dev.tsv"
RUN = ROOT / "runs" / "sst2-minilm"
LOGS = ROOT / "bench" / "logs" / "peers"
LANGTEST_PYTHON = ROOT / "bench" / ".venv-langtest" / "bin" / "python"


@dataclass(frozen=True)
class Category:
    """One kind of perturbation both tools run: fairtune's (`invariance:<perturbation>` of the robustness
    audit, or `swaps:<dimension>` of the fairness audit) and the LangTest tests pooled against it."""

    fairtune: str
    langtest: tuple[str, ...]
    how: str  # how the two perturbations differ


FIRST_NAME_TESTS = tuple(f"replace_to_{g}_firstnames" for g in ("white", "black", "hispanic", "asian"))
COUNTRY_TESTS = tuple(
    f"replace_to_{g}_country"
    for g in ("high_income", "upper_middle_income", "lower_middle_income", "low_income")
)
SURNAME_TESTS = tuple(
    f"replace_to_{g}_lastnames"
    for g in ("white", "black", "hispanic", "asian", "native_american", "inter_racial")
)
RELIGION_NAME_TESTS = tuple(
    f"replace_to_{r}_names" for r in ("christian", "muslim", "hindu", "buddhist", "sikh", "jain", "parsi")
)
CATEGORIES = {
    "typo": Category(
        "invariance:typo_adjacent_key",
        ("add_typo",),
        "fairtune replaces one inner letter of a content word with a QWERTY neighbour; LangTest replaces "
        "one character anywhere by a frequency-weighted keyboard typo, or (1 in 10) swaps two adjacent "
        "characters",
    ),
    "uppercase": Category("invariance:case_upper", ("uppercase",), "both upper-case the whole sentence"),
    "lowercase": Category("invariance:case_lower", ("lowercase",), "both lower-case the whole sentence"),
    "add_punctuation": Category(
        "invariance:punctuation_add",
        ("add_punctuation",),
        "both end an unpunctuated sentence with a mark: fairtune '.' or '!' (with or without a space), "
        "LangTest one of ! ? , . - : ;",
    ),
    "strip_punctuation": Category(
        "invariance:punctuation_remove",
        ("strip_punctuation",),
        "fairtune removes every stand-alone punctuation token; LangTest only the sentence's last character",
    ),
    "strip_all_punctuation": Category(
        "invariance:punctuation_remove",
        ("strip_all_punctuation",),
        "fairtune removes every stand-alone punctuation token; LangTest every punctuation character, "
        "apostrophes inside words too",
    ),
    "contraction": Category(
        "invariance:contraction_contract",
        ("add_contraction",),
        "both contract expanded forms ('do not' -> \"don't\"); LangTest matches inside words too",
    ),
    "gender_pronouns": Category(
        "swaps:pronouns",
        ("replace_to_female_pronouns", "replace_to_male_pronouns"),
        "fairtune swaps he/him/his/himself <-> she/her/hers/herself, choosing his/him for 'her' by the next "
        "word; LangTest replaces male or neutral pronouns by female ones (and female or neutral by male), "
        "its neutral list holding 'they', 'them', 'their' and neopronouns such as 'per', 've', 'em'",
    ),
    "first_names": Category(
        "invariance:name_swap",
        FIRST_NAME_TESTS,
        "fairtune swaps one of 50 common US first names for another of the same gender; LangTest replaces "
        "any first name of its other ethnic lists by one of the target list (four tests pooled), "
        "case-insensitively",
    ),
    "race_first_names": Category(
        "swaps:race",
        FIRST_NAME_TESTS[:2],
        "fairtune's race lexicon swaps Black and white first names pairwise; LangTest's white and black "
        "first-name tests replace names of the other lists by one of the target list (two tests pooled)",
    ),
    "countries": Category(
        "swaps:nationality",
        COUNTRY_TESTS,
        "fairtune's nationality lexicon swaps 10 countries and their adjectives and demonyms with each "
        "other; LangTest replaces any country name by one of an income group (four tests pooled)",
    ),
    "titlecase": Category("invariance:case_title", ("titlecase",), "both capitalise every word"),
    "ocr_typo": Category(
        "invariance:typo_ocr",
        ("add_ocr_typo",),
        "fairtune makes one OCR character confusion (rn/m, cl/d, l/1, o/0, e/c, ...) in one content word; "
        "LangTest replaces words by OCR misspellings from its word list",
    ),
    "speech_to_text_typo": Category(
        "invariance:typo_homophone",
        ("add_speech_to_text_typo",),
        "both replace one word by a sounds-alike word: fairtune from 85 common homophone sets, LangTest from "
        "its homophone dictionary",
    ),
    "dyslexia": Category(
        "invariance:typo_dyslexia",
        ("dyslexia_word_swap",),
        "both swap a word for a visually confusable one (from/form, quite/quiet); fairtune one word, from "
        "its 30 pairs, LangTest every listed word, from its own list",
    ),
    "abbreviation": Category(
        "invariance:abbreviation",
        ("add_abbreviation",),
        "both write words as text-speak (you -> u, before -> b4); fairtune one phrase, LangTest every "
        "listed one",
    ),
    "slang": Category(
        "invariance:slang",
        ("add_slangs",),
        "both replace a word by slang; fairtune one sentiment-neutral word (movie -> flick), LangTest "
        "words of its slang list, some of which carry sentiment",
    ),
    "add_context": Category(
        "invariance:context_add",
        ("add_context",),
        "both add one of the same neutral phrases; fairtune at the start or the end, LangTest at the start, "
        "the end or both",
    ),
    "american_to_british": Category(
        "invariance:spelling_us_to_uk",
        ("american_to_british",),
        "both respell American words the British way; fairtune one word of 82 pairs, LangTest every word "
        "of its list",
    ),
    "british_to_american": Category(
        "invariance:spelling_uk_to_us",
        ("british_to_american",),
        "the reverse of american_to_british",
    ),
    "number_to_word": Category(
        "invariance:number_to_word",
        ("number_to_word",),
        "both spell a number out (fairtune one number, through num2words, years as years; LangTest every "
        "number)",
    ),
    "adjective_synonym": Category(
        "invariance:synonym_adjective",
        ("adjective_synonym_swap",),
        "both replace an adjective by a WordNet synonym; fairtune only an adjective of the word's most "
        "frequent part of speech, by its most common sense; LangTest any adjective a tagger finds",
    ),
    "age": Category(
        "invariance:age_shift",
        ("randomize_age",),
        "both move an age ('25 years old') by up to 5; fairtune also 'aged 25' and '25-year-old'",
    ),
    "new_lines": Category(
        "invariance:whitespace_newline", ("add_new_lines",), "both turn spaces between words into line breaks"
    ),
    "tabs": Category("invariance:whitespace_tab", ("add_tabs",), "both turn spaces between words into tabs"),
    "multiple": Category(
        "invariance:multiple",
        ("multiple_perturbations",),
        "fairtune chains three of eight perturbations chosen per sentence (typo, lower case, punctuation, "
        "contraction, abbreviation, slang, OCR, tab) and counts sentences that at least two changed; "
        "LangTest chains lowercase, add_typo and add_punctuation on every sentence",
    ),
    "neutral_pronouns": Category(
        "invariance:pronoun_neutral",
        ("replace_to_neutral_pronouns",),
        "both make gendered pronouns neutral; fairtune writes singular 'they' with verb agreement ('she is' "
        "-> 'they are'), LangTest one of its neutral pronouns ('they', 'ze', 'per', ...) without agreement",
    ),
    "surnames": Category(
        "swaps:surnames",
        SURNAME_TESTS,
        "fairtune swaps a surname for the surname of each other group (white, Black, Hispanic, Asian, "
        "Native American: frequent 2010 Census surnames); LangTest replaces any surname of its lists by "
        "one of the target list (six tests pooled, inter-racial included)",
    ),
    "religion_names": Category(
        "swaps:religion_names",
        RELIGION_NAME_TESTS,
        "fairtune swaps a given name for one of each other group (Christian, Muslim, Jewish, Hindu, "
        "Buddhist, Sikh, Jain, Parsi); LangTest replaces any name of its lists by one of the target list "
        "(seven tests pooled)",
    ),
}

#: LangTest text-classification robustness and bias tests that fairtune does not run, and fairtune
#: invariance and swap tests that LangTest does not run: each with the reason.
NOT_COVERED = {
    "langtest:adjective_antonym_swap": "not label-preserving for sentiment or any polar task: 'a good film' "
    "-> 'a bad film' should change the prediction, so a changed label is the expected behaviour, not a "
    "failure (LangTest counts it as one)",
    "fairtune:typo_drop": "LangTest has no letter-deletion typo",
    "fairtune:typo_insert": "LangTest has no letter-insertion typo",
    "fairtune:contraction_expand": "LangTest only contracts (add_contraction), it does not expand",
    "fairtune:number_change": "LangTest spells numbers out (number_to_word) but never changes their value",
    "fairtune:synonym_noun": "LangTest swaps adjectives for synonyms, not nouns",
    "fairtune:gender_terms": "the fairness audit's gender swaps also exchange gendered nouns (men/women, "
    "father/mother) and gendered first names; LangTest's gender tests swap pronouns only",
    "fairtune:religion_terms": "LangTest's religion tests swap personal names, not religion terms",
    "fairtune:sexual_orientation_terms": "LangTest has no sexual-orientation term swap",
    "fairtune:age_terms": "LangTest has no age-group term swap (randomize_age changes numbers)",
    "fairtune:disability_terms": "LangTest has no disability term swap",
    "fairtune:word_substitution_attack": "LangTest's text-classification robustness tests apply one fixed "
    "perturbation each; none searches for the substitution that flips the label",
    "fairtune:template_probes": "LangTest's bias tests swap words in the given sentences; it fills no "
    "identity templates",
    "fairtune:eec": "LangTest has no Equity Evaluation Corpus test",
    "fairtune:identity_term_error_rates": "LangTest's text-classification fairness tests bound F1 per gender "
    "(min/max_gender_f1_score, a category outside robustness and bias); none measures error rates per "
    "identity term",
}


def langtest_params() -> dict[str, Any]:
    """LangTest settings that make its tests comparable with fairtune's: the same context phrases, and
    a chain for multiple_perturbations."""
    from fairtune.config._schema import CONTEXT_AFTER, CONTEXT_BEFORE

    return {
        "add_context": {
            "parameters": {"starting_context": list(CONTEXT_BEFORE), "ending_context": list(CONTEXT_AFTER)}
        },
        "multiple_perturbations": {"perturbations1": ["lowercase", "add_typo", "add_punctuation"]},
    }


def langtest_tests() -> list[str]:
    """Every LangTest test the categories use, once each, in order."""
    return list(dict.fromkeys(t for c in CATEGORIES.values() for t in c.langtest))


def fairtune_keys() -> list[str]:
    return list(dict.fromkeys(c.fairtune for c in CATEGORIES.values()))


# -- the sentences ------------------------------------------------------------------------------------


def write_sentences(n: int, seed: int, out: Path) -> list[int]:
    """N dev rows by a seeded permutation, written to `out` (text,label); returns their 0-based indices."""
    with DEV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    idx = [int(i) for i in np.random.default_rng(seed).permutation(len(rows))[: min(n, len(rows))]]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in idx:
            w.writerow([rows[i][0].strip(), int(rows[i][1])])
    return idx


def read_sentences(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [r["text"] for r in csv.DictReader(fh)]


# -- LangTest -----------------------------------------------------------------------------------------


def run_langtest(sentences: Path, seed: int, threads: int) -> dict[str, Any]:
    subprocess.check_call(["bash", str(ROOT / "bench" / "langtest_env.sh")], cwd=ROOT)
    out = LOGS / "langtest.json"
    cmd = [str(LANGTEST_PYTHON), "bench/_langtest_runner.py", "--model", str(RUN / "model")]
    cmd += ["--data", str(sentences), "--tests", ",".join(langtest_tests()), "--seed", str(seed)]
    cmd += ["--threads", str(threads), "--out", str(out), "--params", json.dumps(langtest_params())]
    with (LOGS / "langtest.log").open("w") as log:
        code = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        raise SystemExit(f"LangTest runner failed ({code}); see {(LOGS / 'langtest.log').relative_to(ROOT)}")
    return json.loads(out.read_text())  # type: ignore[no-any-return]


# -- fairtune -----------------------------------------------------------------------------------------


def run_fairtune(sentences: Path, seed: int, threads: int, worst: int = 3) -> dict[str, Any]:
    """Every fairtune perturbation of CATEGORIES on the sentences in one pass (one `invariance` call, one
    `counterfactual_swaps` call), as its audits run them: the rates and the total wall time. Then each
    perturbation alone, for its own wall time (the same texts: each perturbation has its own seeded rng)."""
    t_import = time.perf_counter()
    import torch

    import fairtune as ft
    from fairtune.audits.fairness._audit import counterfactual_swaps
    from fairtune.audits.robustness import Perturbations, invariance
    from fairtune.audits.robustness._audit import read_names
    from fairtune.data import Lexicon, load_lexicons, load_wordnet

    torch.set_num_threads(threads)
    import_seconds = time.perf_counter() - t_import

    class Only(Perturbations):
        """The invariance audit's perturbations, restricted to some of them."""

        def __init__(self, names: list[str]) -> None:
            super().__init__(wordnet, read_names())
            self.keep = names

        def all(self) -> dict[str, Any]:
            every = super().all()
            return {n: every[n] for n in self.keep}

    def lexicon(name: str) -> Any:
        if name == "pronouns":  # the gender swapper's pronoun rules alone: a gender lexicon with no terms
            return Lexicon("gender", ["male", "female"], [], [], ["fairtune pronoun rules"], "pronouns")
        return load_lexicons([name])[0]

    def measure(keys: list[str]) -> dict[str, Any]:
        """{key: tested, failures, failure_rate, examples} for these fairtune keys, in two calls at most."""
        out: dict[str, Any] = {}
        inv_names = [k.split(":", 1)[1] for k in keys if k.startswith("invariance:")]
        if inv_names:
            for name, r in invariance(clf, texts, Only(inv_names), seed, worst).items():
                cases = [(w["text"], w["perturbed"], w["failed"]) for w in r.get("worst", [])]
                out[f"invariance:{name}"] = (r["applied"], r.get("failure_rate"), cases)
        swap_names = [k.split(":", 1)[1] for k in keys if k.startswith("swaps:")]
        if swap_names:
            lexicons = [lexicon(n) for n in swap_names]
            dims = counterfactual_swaps(clf, texts, lexicons, pronouns=True, worst=worst)["dimensions"]
            for name, lex in zip(swap_names, lexicons, strict=True):
                r = dims[lex.dimension]
                cases = [(w["text"], w["counterfactual"], w["flipped"]) for w in r.get("worst", [])]
                out[f"swaps:{name}"] = (r["pairs"], r.get("flip_rate"), cases)
        return {
            key: {
                "tested": tested,
                "failures": round(rate * tested) if rate is not None else 0,
                "failure_rate": rate,
                "examples": [{"original": o, "perturbed": p} for o, p, failed in cases if failed],
            }
            for key, (tested, rate, cases) in out.items()
        }

    texts = read_sentences(sentences)
    t0 = time.perf_counter()
    clf = ft.classifier(str(RUN))
    wordnet = load_wordnet()  # for the synonym perturbation, as the audit loads it: timed with the model
    load_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    tests = measure(fairtune_keys())
    one_pass_seconds = time.perf_counter() - t0
    for key in fairtune_keys():
        t0 = time.perf_counter()
        alone = measure([key])[key]
        tests[key]["seconds"] = time.perf_counter() - t0
        if alone["tested"] != tests[key]["tested"]:  # the perturbations are seeded: the same texts
            raise SystemExit(f"fairtune {key}: alone {alone} differs from the one pass {tests[key]}")
        # bf16 scores can move in the last bits with the batch's make-up, so a borderline prediction
        # may differ between the one pass and the test alone: kept beside the time, as LangTest's are
        tests[key]["alone"] = {k: alone[k] for k in ("tested", "failures")}
        print(f"[fairtune] {key}: {alone['failures']}/{alone['tested']} failed, {tests[key]['seconds']:.2f}s")
    labels = [clf.labels[i] for i in clf.predict_proba(texts).argmax(axis=1)]  # untimed: the model check
    return {
        "original_labels": labels,
        "import_seconds": import_seconds,
        "load_seconds": load_seconds,
        "one_pass_seconds": one_pass_seconds,
        "seconds": load_seconds + one_pass_seconds,
        "per_test_seconds": load_seconds + sum(r["seconds"] for r in tests.values()),
        "precision": getattr(clf, "precision", None),
        "max_length": getattr(clf, "max_length", None),
        "torch_threads": torch.get_num_threads(),
        "tests": tests,
    }


# -- the comparison -----------------------------------------------------------------------------------


def pooled(tests: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    tested = sum(tests[n]["tested"] for n in names)
    failures = sum(tests[n]["failures"] for n in names)
    return {
        "tested": tested,
        "failures": failures,
        "failure_rate": failures / tested if tested else None,
        "seconds": sum(tests[n]["seconds"] for n in names),
    }


def compare(n: int, ft_side: dict[str, Any], lt_side: dict[str, Any]) -> dict[str, Any]:
    """`categories` where both tools tested at least one sentence; `untested` where one did not."""
    categories: dict[str, Any] = {}
    untested: dict[str, Any] = {}
    for name, cat in CATEGORIES.items():
        f = ft_side["tests"][cat.fairtune]
        lt = pooled(lt_side["tests"], cat.langtest)
        row = {
            "sentences": n,
            "fairtune_failure_rate": f["failure_rate"],
            "langtest_failure_rate": lt["failure_rate"],
            "fairtune_tested": f["tested"],
            "langtest_tested": lt["tested"],
            "fairtune_failures": f["failures"],
            "langtest_failures": lt["failures"],
            "fairtune_seconds": f["seconds"],
            "langtest_seconds": lt["seconds"],
            "fairtune_test": cat.fairtune,
            "langtest_tests": list(cat.langtest),
            "how": cat.how,
        }
        if f["tested"] and lt["tested"]:
            categories[name] = row
        else:
            who = [t for t, k in (("fairtune", f["tested"]), ("LangTest", lt["tested"])) if not k]
            untested[name] = {**row, "reason": f"{' and '.join(who)} changed none of the {n} sentences"}
    return {"categories": categories, "untested": untested}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="SST-2 dev sentences given to both tools")
    ap.add_argument("--seed", type=int, default=0, help="sentence sample and perturbation seed")
    ap.add_argument("--threads", type=int, default=1, help="torch threads, the same for both tools")
    args = ap.parse_args()
    if not (RUN / "model" / "config.json").is_file():
        raise SystemExit(f"no trained model in {RUN.relative_to(ROOT)}: train configs/sst2-minilm.yaml first")
    load_start = os.getloadavg()
    sentences = LOGS / "sentences.csv"
    indices = write_sentences(args.n, args.seed, sentences)
    lt_side = run_langtest(sentences, args.seed, args.threads)
    load_between = os.getloadavg()
    ft_side = run_fairtune(sentences, args.seed, args.threads)
    cmp = compare(len(indices), ft_side, lt_side)
    ft_labels, lt_labels = ft_side.pop("original_labels"), lt_side.pop("original_labels")
    from fairtune import __version__ as fairtune_version

    doc = {
        **cmp,
        "fairtune_seconds": ft_side["seconds"],
        "langtest_seconds": lt_side["seconds"],
        "not_covered": NOT_COVERED,
        "n": len(indices),
        "seed": args.seed,
        "dev_indices": indices,
        "model": str(RUN.relative_to(ROOT)),
        "failure": "the predicted label of the perturbed sentence differs from the original's",
        "original_labels_agree": sum(a == b for a, b in zip(ft_labels, lt_labels, strict=True)),
        "fairtune": {k: v for k, v in ft_side.items() if k != "tests"} | {"version": fairtune_version},
        "langtest": {k: v for k, v in lt_side.items() if k not in ("tests", "model", "data")},
        "fairtune_tests": ft_side["tests"],
        "langtest_tests": lt_side["tests"],
        "load_note": {
            "loadavg_at_start": load_start,
            "loadavg_after_langtest": load_between,
            "loadavg_at_end": os.getloadavg(),
            "note": "other work (a training) may share the 2 cores; both tools run with the same threads",
        },
        "command": " ".join(["bench/peers.py", *sys.argv[1:]]),
    }
    path = write_results("peers", doc)
    print(f"written to {path.relative_to(ROOT)}", flush=True)
    for name, row in cmp["categories"].items():
        print(
            f"  {name}: fairtune {row['fairtune_failures']}/{row['fairtune_tested']}, "
            f"LangTest {row['langtest_failures']}/{row['langtest_tested']}",
            flush=True,
        )
    print(f"  seconds: fairtune {ft_side['seconds']:.1f}, LangTest {lt_side['seconds']:.1f}", flush=True)


if __name__ == "__main__":
    main()
