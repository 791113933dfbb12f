"""The one masking rule: configured secrets in full and by prefix, credential shapes, before any cut."""

from __future__ import annotations

import pytest

from catalog_pipeline.masking import MASK, configured_secrets, mask_secrets, shorten

KEY = "canary-anthropic-7f3c9a1be04d4c2a"
ENVIRONMENT = {
    "ANTHROPIC_API_KEY": KEY,
    "GOOGLE_VERTEX_API_KEY": "ya29.short",
    "CATALOG_DATABASE_URL": "postgresql+psycopg://catalog:db-pass-92ks1@db.internal:5432/catalog",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0001/B0002/xoxbwebhooktoken1234567890",
    "PRICING_SYNC_INTERVAL_HOURS": "6",
}


def test_a_configured_secret_is_masked_in_full_and_by_any_prefix_of_eight_or_more_characters():
    """A key cut by whoever wrote the message (an error body, a log line) still leaves nothing behind."""
    assert mask_secrets(f"invalid x-api-key {KEY}.", ENVIRONMENT) == "invalid x-api-key ***."
    for length in range(8, len(KEY)):
        masked = mask_secrets(f"body: ...{KEY[:length]}", ENVIRONMENT)
        assert KEY[:8] not in masked, length
        assert masked.endswith(MASK)
    # shorter than eight characters is not the key's: left alone
    assert mask_secrets(f"prefix {KEY[:7]}", ENVIRONMENT) == f"prefix {KEY[:7]}"


def test_masking_before_cutting_leaves_no_piece_of_a_key_that_straddles_the_cut():
    """The order the issue asks for: mask, then shorten."""
    text = "x" * 190 + KEY + " and more"
    assert KEY[:8] not in shorten(mask_secrets(text, ENVIRONMENT), 200)


def test_credential_shapes_are_masked_without_being_configured():
    """Bearer tokens, Authorization values, api-key fields, URL passwords and secret query values."""
    cases = {
        "Authorization: Bearer sk-abcdefghijklmnop": "Authorization: Bearer ***",
        '{"authorization": "Key 1234567890abcdef"}': '{"authorization": "Key ***"}',
        "sent bearer eyJhbGciOiJIUzI1NiJ9.payload.sig to it": "sent bearer *** to it",
        "x-api-key: abc123def456": "x-api-key: ***",
        '"api_key": "zz-top-secret"': '"api_key": "***"',
        "GET https://generativelanguage.googleapis.com/v1beta/models?key=AIzaSyA&pageSize=50": (
            "GET https://generativelanguage.googleapis.com/v1beta/models?key=***&pageSize=50"
        ),
        "postgresql://user:hunter2@host/db is down": "postgresql://user:***@host/db is down",
        "key sk-proj-abcdefghijklmnopqrstuvwx leaked": "key *** leaked",
    }
    for text, expected in cases.items():
        assert mask_secrets(text, {}) == expected, text


def test_url_and_webhook_secrets_mask_their_secret_part_only():
    """A database password wherever it appears; a webhook whole and by its token, never every https:// URL."""
    assert mask_secrets("password db-pass-92ks1 rejected", ENVIRONMENT) == "password *** rejected"
    posted = mask_secrets(
        "posted to https://hooks.slack.com/services/T0001/B0002/xoxbwebhooktoken1234567890", ENVIRONMENT
    )
    assert posted == "posted to ***"
    assert "xoxbwebh" not in mask_secrets("…/B0002/xoxbwebhooktok", ENVIRONMENT)
    ordinary = "GET https://api.groq.com/openai/v1/models: HTTP 503 after 4 attempts"
    assert mask_secrets(ordinary, ENVIRONMENT) == ordinary


def test_only_secret_variables_count_as_configured_secrets():
    found = configured_secrets(ENVIRONMENT)
    assert KEY in found and "db-pass-92ks1" in found and "xoxbwebhooktoken1234567890" in found
    assert "6" not in found


@pytest.mark.parametrize("text", ["", "HTTP 404 (not found)", "has_more is true but 'nextPageToken' is empty"])
def test_ordinary_messages_pass_unchanged(text):
    assert mask_secrets(text, ENVIRONMENT) == text
