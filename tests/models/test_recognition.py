"""The word-recognition front end: what it corrects, what it leaves alone, and that every loader of a
model folder puts it in front of the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fairtune.errors import RunError
from fairtune.models import RECOGNIZER_FILE, TorchClassifier, WordRecognizer, load_recognizer
from fairtune.models._recognition import Channel

CORPUS = ["a great movie", "great acting", "the movie is great", "a boring plot", "boring and dull"] * 2


def recognizer(**kw: object) -> WordRecognizer:
    return WordRecognizer.build(CORPUS, ["groat", "greet"], **kw)  # type: ignore[arg-type]


def test_typos_become_the_nearest_frequent_training_word_in_the_writers_casing() -> None:
    rec = recognizer()
    # adjacent key, dropped letter, inserted letter, swapped letters (one edit), OCR digit
    assert rec(["a grest mvie", "a grat moviee", "bornig", "b0ring plot"]) == [
        "a great movie",
        "a great movie",
        "boring",
        "boring plot",
    ]
    assert rec(["GREST", "Grest acting"]) == ["GREAT", "Great acting"]


def test_real_words_short_words_foreign_words_and_far_words_are_left_alone() -> None:
    rec = recognizer()
    assert "groat" in rec.protected and "greet" in rec.protected  # near "great": kept as real words
    assert "zebra" not in rec.protected  # far from every dictionary word: nothing to protect it from
    texts = ["a groat movie", "greet us", "pllot", "movie", "grêat", "zebra", "12345", "abc_def"]
    out = rec(texts)
    assert out[:2] == texts[:2] and out[3:] == texts[3:]
    assert out[2] == "plot"
    assert rec(["pt"]) == ["pt"]  # shorter than min_length (3): never changed
    assert rec(["plt"]) == ["plot"] and recognizer(min_length=4)(["plt"]) == ["plt"]


def test_a_changed_first_letter_costs_a_correction_but_does_not_rule_it_out() -> None:
    # "dfated" is one edit from "dated" (keeps the d) and from "fated" (changes it)
    assert WordRecognizer.build(["fated"] * 20 + ["dated"] * 2)(["dfated"]) == ["dated"]
    assert WordRecognizer.build(["fated"] * 200 + ["dated"] * 2)(["dfated"]) == ["fated"]  # far likelier
    assert WordRecognizer.build(["dated"] * 2)(["xated"]) == ["dated"]  # OCR changes first letters


def test_the_neighbouring_words_choose_among_equally_near_candidates() -> None:
    rec = WordRecognizer.build(["i loved it"] * 3 + ["too loud music"] * 5)
    assert rec(["lovd", "i lovd it", "too lovd music"]) == ["loud", "i loved it", "too loud music"]


def test_with_keep_a_word_stays_unless_a_candidate_is_much_likelier() -> None:
    texts = ["a grest movie", "a grsst movie"]  # one edit and two edits from "great"
    assert recognizer(channel=Channel(keep=None))(texts) == ["a great movie", "a great movie"]
    rec = recognizer(channel=Channel(edit=12.0, keep=-18.0))  # two edits (24 nats) need 6 nats of context
    assert rec(texts) == ["a great movie", "a grsst movie"]


def test_configured_shares_the_dictionary_under_other_settings_and_leaves_the_original_alone() -> None:
    rec = recognizer(channel=Channel(keep=None))
    texts = ["a grsst movie", "plt"]
    assert rec(texts) == ["a great movie", "plot"]  # fills the original's cache
    other = rec.configured(Channel(edit=12.0, keep=-18.0), min_length=4)
    assert other(texts) == texts and other.counts is rec.counts
    assert rec(texts) == ["a great movie", "plot"] and rec.min_length == 3 and rec.channel.keep is None


def test_rare_training_words_and_word_pairs_stay_out_of_the_dictionary() -> None:
    rec = WordRecognizer.build(["secretword once", "common common"], min_count=2)
    assert "secretword" not in rec.counts and rec.counts == {"common": 2} and rec.bigrams == {}
    rec = WordRecognizer.build(["secretword once"] * 3, min_count=3)
    assert rec.counts == {"secretword": 3, "once": 3} and rec.bigrams == {"secretword once": 3}


def test_saved_and_loaded_it_corrects_the_same(tmp_path: Path) -> None:
    rec = recognizer(max_edit_distance=1)
    assert load_recognizer(tmp_path) is None
    rec.save(tmp_path)
    back = load_recognizer(tmp_path)
    assert back is not None and back.to_dict() == rec.to_dict()
    texts = ["a grest movie", "a groat gret plot", "rnovie"]
    assert back(texts) == rec(texts) == ["a great movie", "a groat great plot", "rnovie"]  # rn/m: 2 edits
    doc = json.loads((tmp_path / RECOGNIZER_FILE).read_text())
    (tmp_path / RECOGNIZER_FILE).write_text(json.dumps({**doc, "format": 99}))
    with pytest.raises(RunError, match="word-recognition format 99; this fairtune reads format 2"):
        load_recognizer(tmp_path)


def test_torch_classifier_from_a_folder_with_a_front_end_reads_corrected_texts(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    assert TorchClassifier.from_dir(folder).front_end is None
    recognizer().save(folder)
    assert (folder / RECOGNIZER_FILE).is_file()
    clf = TorchClassifier.from_dir(folder, precision="fp32")
    plain = TorchClassifier(clf.model, clf.tokenizer, precision="fp32")  # the same weights, no front end
    typo, clean = clf.predict_proba(["a grest mvie"]), plain.predict_proba(["a great movie"])
    np.testing.assert_allclose(typo, clean, rtol=1e-6)
    assert not np.array_equal(plain.predict_proba(["a grest mvie"]), clean)  # the typo alone reads otherwise


@pytest.mark.parametrize("build", ["bf16", "int8"])
def test_compressed_variants_carry_the_front_end(tmp_path: Path, tiny_model_dir: Path, build: str) -> None:
    import shutil

    from fairtune.compress._variants import build_bf16, build_int8, load_variant

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    recognizer().save(folder)
    out = tmp_path / build
    {"bf16": build_bf16, "int8": build_int8}[build](folder, out)
    variant = load_variant(out, batch_size=8, max_length=16, precision="fp32")
    assert variant.front_end is not None
    assert variant.front_end(["a grest mvie"]) == ["a great movie"]


def test_training_with_the_front_end_changes_no_weight_and_evaluates_through_it(
    tiny_config: dict, tmp_path: Path
) -> None:
    """Without early stopping the front end only adds a file: the weights equal those of the same run
    trained without it (so adding it to a trained run gives what training with it gives), and the eval
    split is read through it (here a typo in every eval text, which it puts right)."""
    from safetensors.torch import load_file

    from fairtune.config import build_config
    from fairtune.testing import tiny_sentiment_rows, write_csv
    from fairtune.workflows.train import train

    rows = tiny_sentiment_rows(32, seed=2)
    typos = [(text.replace("movie", "mvoie"), label) for text, label in rows]
    tiny_config["data"]["eval"] = str(write_csv(tmp_path / "typos.csv", typos))
    changed = sum(a != b for (a, _), (b, _) in zip(rows, typos, strict=True))
    plain = train(build_config(tiny_config), show_progress=False)
    fronted_cfg = {
        **tiny_config,
        "name": "fronted",
        "model": {**tiny_config["model"], "word_recognition": {}},
    }
    fronted = train(build_config(fronted_cfg), show_progress=False)
    runs = Path(tiny_config["output_dir"])
    a = load_file(runs / "tiny" / "model" / "model.safetensors")
    b = load_file(runs / "fronted" / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (runs / "tiny" / "model" / RECOGNIZER_FILE).exists()
    assert (runs / "fronted" / "model" / RECOGNIZER_FILE).is_file()
    info = fronted["train"]["word_recognition"]
    assert changed > 0 and info["eval_texts_changed"] == changed and info["dictionary"] > 10
    assert [h["loss"] for h in plain["train"]["history"]] == [h["loss"] for h in fronted["train"]["history"]]
