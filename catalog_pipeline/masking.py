"""The one masking rule for every message that can leave the process.

Sync log rows, reconciliation history, run logs, `dg.Failure` messages, metadata,
alerts and CLI output all pass through `mask_secrets` *before* anything is cut to
length, so a secret that straddles a cut is still recognised. It masks:

- every configured secret: the value of each ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET`` and
  ``*_PASSWORD`` variable, the password of every ``*_URL`` variable, the Slack webhook,
  and any extra secret a caller names (the catalog database's password);
- any piece of such a secret of `MIN_PREFIX` or more characters that starts where the
  secret starts (what survives when someone else cut the text first);
- anything shaped like a credential: ``Bearer <token>``, the value of an
  ``Authorization:`` header or of an ``api_key=``/``x-api-key:``/``password=`` field, a
  URL's password, secret-named query values, and well-known key formats (``sk-...``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

MASK = "***"
#: Variables whose value is a secret, by the end of their name.
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
#: Variables whose whole value (a URL) is a secret.
SECRET_URL_VARIABLES = ("SLACK_WEBHOOK_URL",)
#: Shortest piece of a configured secret that is masked wherever it appears.
MIN_PREFIX = 8
#: Shorter configured values are not masked at all: "1234" would mask half the numbers of every message.
MIN_SECRET = 4
#: Query parameters that carry credentials.
SECRET_QUERY_NAMES = frozenset({"key", "api_key", "apikey", "token", "access_token", "signature", "sig", "password"})

#: Marks a secret that is masked only as a whole (a URL whose start is not secret).
_WHOLE = "\x00whole:"
_TOKEN = r"[A-Za-z0-9._~+/=\-]"
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # a URL's password: scheme://user:password@host
    (re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+(?=@)"), rf"\g<keep>{MASK}"),
    # the value of an Authorization header, with or without its scheme word
    (
        re.compile(
            r"(?P<keep>(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?:(?i:bearer|basic|key|token|apikey)\s+)?)"
            r"[^\s\"',;}]+"
        ),
        rf"\g<keep>{MASK}",
    ),
    # a bearer token anywhere
    (re.compile(rf"(?P<keep>\b(?i:bearer)\s+){_TOKEN}{{6,}}"), rf"\g<keep>{MASK}"),
    # credential-named fields: x-api-key: ..., "api_key": "...", password=...
    (
        re.compile(
            r"(?P<keep>\b(?i:x-api-key|x-goog-api-key|api[-_]?key|access[-_]?token|client[-_]?secret|secret[-_]?key"
            r"|password|passwd)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+"
        ),
        rf"\g<keep>{MASK}",
    ),
    # secret-named query values
    (
        re.compile(r"(?P<keep>[?&](?i:" + "|".join(sorted(SECRET_QUERY_NAMES)) + r")=)[^&\s#\"']+"),
        rf"\g<keep>{MASK}",
    ),
    # well-known key formats (OpenAI/Anthropic/OpenRouter sk-..., Groq gsk_, xAI, Google, Hugging Face, OAuth)
    (
        re.compile(
            r"\b(?:sk-[A-Za-z0-9_\-]{16,}|gsk_[A-Za-z0-9]{16,}|xai-[A-Za-z0-9]{20,}|AIza[0-9A-Za-z_\-]{30,}"
            r"|hf_[A-Za-z0-9]{20,}|ya29\.[A-Za-z0-9_\-]{20,}|fw_[A-Za-z0-9]{16,})"
        ),
        MASK,
    ),
)


def configured_secrets(environment: Mapping[str, str]) -> list[str]:
    """The secret values held by `environment`'s variables (see the module docstring)."""
    found: list[str] = []
    for name, value in environment.items():
        if not value:
            continue
        if name.endswith(SECRET_SUFFIXES):
            found.append(value)
        elif name in SECRET_URL_VARIABLES:
            # The whole URL, and the token at the end of its path: its start ("https://hooks...")
            # is not secret, so the prefix rule applies to the token alone.
            found.append(_WHOLE + value)
            found.append(urlsplit(value).path.rstrip("/").rsplit("/", 1)[-1])
        elif name.endswith("_URL") and "://" in value:
            password = _url_password(value)
            if password:
                found.append(password)
    return found


def mask_secrets(text: str, environment: Mapping[str, str] | None = None, extra: Iterable[str | None] = ()) -> str:
    """`text` with every configured secret (and prefix of one) and every credential-shaped value as ``***``.

    Args:
        text: any message.
        environment: where the configured secrets live; the process environment by default.
        extra: further secrets (the catalog database's password).
    """
    if not text:
        return text
    secrets = configured_secrets(os.environ if environment is None else environment)
    secrets.extend(secret for secret in extra if secret)
    text = _mask_configured(text, secrets)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (with an ellipsis); call it on masked text only."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _mask_configured(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of each secret and of each piece of it of `MIN_PREFIX`+ characters
    that starts where the secret starts (its URL-encoded form too)."""
    spans: list[tuple[int, int]] = []
    variants: set[tuple[str, bool]] = set()
    for secret in secrets:
        secret = str(secret)
        whole = secret.startswith(_WHOLE)
        secret = secret.removeprefix(_WHOLE)
        if len(secret) < MIN_SECRET:
            continue
        variants.add((secret, whole))
        encoded = quote(secret, safe="")
        if encoded != secret:
            variants.add((encoded, whole))
    for secret, whole in variants:
        probe = secret if whole else secret[:MIN_PREFIX]
        start = text.find(probe)
        while start != -1:
            end = start + len(probe)
            while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
                end += 1
            if len(secret) >= MIN_PREFIX or end - start == len(secret):
                spans.append((start, end))
            start = text.find(probe, start + 1)
    if not spans:
        return text
    spans.sort()
    pieces, position = [], 0
    for start, end in spans:
        if end <= position:
            continue
        start = max(start, position)
        if start > position or not pieces or pieces[-1] != MASK:
            pieces.append(text[position:start])
            pieces.append(MASK)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
