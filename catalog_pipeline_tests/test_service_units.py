"""Pieces of the catalog API and its deployment that need no server: conditional-request and gzip
negotiation rules (RFC 9110), the gateway's price convention, the digest threshold, and the
deployment files naming real `catalog-pipeline serve` options."""

from __future__ import annotations

import shlex

import pytest

from catalog_pipeline.alerts import AlertChannelsResource, PriceMove
from catalog_pipeline.cli import build_parser
from catalog_pipeline.service.app import gateway_pricing
from catalog_pipeline.service.http import accepts_gzip, etag_matches
from catalog_pipeline_tests.service_helpers import PROJECT_ROOT


class _Request:
    def __init__(self, accept_encoding: str):
        self.headers = {"accept-encoding": accept_encoding}


def test_if_none_match_uses_weak_comparison_over_a_list():
    """`*`, either form of the tag, or the tag anywhere in a list matches; another tag or none does not."""
    tag = 'W/"abc"'
    assert etag_matches('W/"abc"', tag) and etag_matches('"abc"', tag) and etag_matches("*", tag)
    assert etag_matches('W/"x", W/"abc"', tag)
    assert not etag_matches('W/"abcd"', tag) and not etag_matches(None, tag) and not etag_matches("", tag)


@pytest.mark.parametrize(
    ("header", "gzip"),
    [("gzip", True), ("br, gzip;q=0.5", True), ("gzip;q=0", False), ("identity", False), ("", False), ("*", True)],
)
def test_gzip_only_when_the_client_accepts_it(header, gzip):
    assert accepts_gzip(_Request(header)) is gzip  # type: ignore[arg-type]


def test_gateway_prices_follow_openrouters_convention():
    """USD per token as text, '-1' variable, '0' free, unknown left out; per-request prices as they are."""
    prices = {
        "input": {"amount": "3", "state": "known", "unit": "usd_per_million_tokens"},
        "output": {"amount": None, "state": "variable", "unit": "usd_per_million_tokens"},
        "cache_read": {"amount": None, "state": "unknown", "unit": "usd_per_million_tokens"},
        "cache_write": {"amount": "0", "state": "free", "unit": "usd_per_million_tokens"},
        "request": {"amount": "0.005", "state": "known", "unit": "usd_per_request"},
    }
    assert gateway_pricing(prices) == {
        "prompt": "0.000003",
        "completion": "-1",
        "input_cache_write": "0",
        "request": "0.005",
    }


def test_digest_threshold_is_a_percentage_and_counts_moves_from_zero():
    assert AlertChannelsResource().price_change_threshold is None
    assert AlertChannelsResource(price_change_alert_pct="12.5").price_change_threshold == 12.5
    with pytest.raises(ValueError, match="CATALOG_ALERT_PRICE_CHANGE_PCT must be a number"):
        _ = AlertChannelsResource(price_change_alert_pct="ten").price_change_threshold
    move = PriceMove("p", "m", "input", "usd_per_million_tokens", "1", "1.2", 20.0)
    assert move.exceeds(10) and not move.exceeds(20)
    assert PriceMove("p", "m", "input", "u", "0", "1", None).exceeds(1000)
    assert not PriceMove("p", "m", "input", "u", "1", None, None).exceeds(0)  # to unknown: not a price move


def test_deployment_files_run_serve_with_options_it_has():
    """deploy/Procfile and deploy/catalog-api.service start `catalog-pipeline serve` with valid options."""
    procfile = (PROJECT_ROOT / "deploy" / "Procfile").read_text()
    unit = (PROJECT_ROOT / "deploy" / "catalog-api.service").read_text()
    commands = [line.split(":", 1)[1] for line in procfile.splitlines() if line.startswith("api:")]
    commands += [line.removeprefix("ExecStart=") for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert len(commands) == 2
    for command in commands:
        words = shlex.split(command)
        arguments = words[words.index(next(w for w in words if w.endswith("catalog-pipeline"))) + 1 :]
        parsed = build_parser().parse_args(arguments)
        assert parsed.command == "serve" and parsed.host == "0.0.0.0" and parsed.port == 8000
