"""Email and phone normalisation and hashing as Google Ads, Meta and LinkedIn match them.

Expected digests are literal values worked out once by hand (``printf %s VALUE |
sha256sum``), not computed by the code under test."""

from __future__ import annotations

import pytest

from renkei.expr import compile_mapping, validate_mapping
from renkei.expr.identifiers import (
    hash_email,
    hash_phone,
    is_sha256_hex,
    normalize_email,
    normalize_phone,
)

TEST_AT_EXAMPLE = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
JANEDOE_AT_GMAIL = "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
PLUS_16505551212 = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"
DIGITS_16505551212 = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
# The em value of Meta's own example request, and the SHA256_EMAIL of LinkedIn's.
META_EXAMPLE_EM = "309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"
LINKEDIN_EXAMPLE = "bad8677b6c86f5d308ee82786c183482a5995f066694246c58c4df37b0cc41f1"


@pytest.mark.parametrize("vendor", ["google", "meta", "linkedin", "plain"])
def test_every_vendor_trims_and_lowercases_an_email(vendor: str) -> None:
    assert normalize_email("  Test@Example.COM \n", vendor) == "test@example.com"  # type: ignore[arg-type]
    assert hash_email(" TEST@example.com", vendor) == TEST_AT_EXAMPLE  # type: ignore[arg-type]


def test_google_drops_the_dots_of_gmail_and_googlemail_local_parts_only() -> None:
    assert normalize_email(" Jane.Doe@GMail.com ", "google") == "janedoe@gmail.com"
    assert normalize_email("jane.doe@googlemail.com", "google") == "janedoe@googlemail.com"
    assert hash_email("Jane.Doe@gmail.com", "google") == JANEDOE_AT_GMAIL
    # Other domains keep their dots; a +tag is kept (Google's client-library samples).
    assert normalize_email("jane.doe@example.com", "google") == "jane.doe@example.com"
    assert normalize_email("jane.doe+ads@gmail.com", "google") == "janedoe+ads@gmail.com"
    # Meta and LinkedIn keep gmail dots.
    assert normalize_email("Jane.Doe@gmail.com", "meta") == "jane.doe@gmail.com"
    assert hash_email("Jane.Doe@gmail.com", "meta") != JANEDOE_AT_GMAIL


def test_phones_are_e164_with_a_plus_for_google_and_digits_only_for_meta() -> None:
    assert normalize_phone("+1 (650) 555-1212") == "+16505551212"
    assert normalize_phone("+1 650.555.1212", "digits") == "16505551212"
    assert normalize_phone("0044 20 7031 3000") == "+442070313000"
    assert hash_phone("+1 (650) 555-1212", "google") == PLUS_16505551212
    assert hash_phone("+1 (650) 555-1212", "meta") == DIGITS_16505551212


def test_a_national_number_takes_the_default_country_code_without_its_trunk_zero() -> None:
    assert normalize_phone("090-1234-5678", default_country_code="81") == "+819012345678"
    assert normalize_phone("090-1234-5678", "digits", default_country_code="+81") == (
        "819012345678"
    )
    with pytest.raises(ValueError, match="country code"):
        normalize_phone("090-1234-5678")


@pytest.mark.parametrize("value", ["", "call me", "+1 555", "+0 650 555 1212", "+1234567890123456"])
def test_what_is_not_an_e164_number_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(value)


@pytest.mark.parametrize("value", ["", "   ", "no-at-sign", "@example.com", "ann@", "a b@c.d"])
def test_what_is_not_an_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(value)
    with pytest.raises(ValueError):
        hash_email(value, "google")


def test_values_already_hashed_pass_through_lowercased() -> None:
    assert hash_email(META_EXAMPLE_EM, "meta") == META_EXAMPLE_EM
    assert hash_email(LINKEDIN_EXAMPLE.upper(), "linkedin") == LINKEDIN_EXAMPLE
    assert hash_phone(f" {PLUS_16505551212} ", "google") == PLUS_16505551212
    assert is_sha256_hex(META_EXAMPLE_EM) and not is_sha256_hex(META_EXAMPLE_EM[:-1])
    assert not is_sha256_hex("z" * 64)


def test_mapping_conversions_hash_as_each_vendor_matches() -> None:
    mapping = compile_mapping(
        [
            {"target": "google_em", "source": "email", "convert": [{"hash_email": "google"}]},
            {"target": "meta_em", "source": "email", "convert": ["hash_email"]},
            {"target": "meta_ph", "source": "phone", "convert": [{"hash_phone": "meta"}]},
            {
                "target": "jp",
                "source": "mobile",
                "convert": [{"hash_phone": {"vendor": "google", "country_code": "81"}}],
            },
            {"target": "bad", "source": "broken", "convert": [{"hash_email": "google"}]},
        ]
    )
    result = mapping.apply(
        {
            "email": " Jane.Doe@gmail.com",
            "phone": "+1 (650) 555-1212",
            "mobile": "090-1234-5678",
            "broken": "nobody",
        }
    )
    assert result.record["google_em"] == JANEDOE_AT_GMAIL
    assert result.record["meta_em"] != JANEDOE_AT_GMAIL  # the dots stay for everyone else
    assert result.record["meta_ph"] == DIGITS_16505551212
    assert len(str(result.record["jp"])) == 64
    assert "bad" not in result.record
    assert [p.conversion for p in result.problems] == ["hash_email"]


@pytest.mark.parametrize(
    "conversion",
    [{"hash_email": "yahoo"}, {"hash_phone": {"vendor": "meta", "country_code": "x"}}],
)
def test_bad_hash_options_are_spec_problems(conversion: dict[str, object]) -> None:
    problems = validate_mapping([{"target": "x", "source": "y", "convert": [conversion]}])
    assert len(problems) == 1
