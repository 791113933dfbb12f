"""Alert messages and their delivery: Slack incoming webhooks and e-mail through the Resend HTTP API.

The webhook URL and the Resend key are secrets: they travel only in the request
(URL, ``Authorization`` header). A failed delivery is reported as a short cause
(an HTTP status or an exception type) with both values masked, so neither can
reach a message, a log line, the sensor cursor or an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import dagster as dg
import httpx

from catalog_pipeline.http_engine import USER_AGENT
from catalog_pipeline.masking import mask_secrets

SLACK, EMAIL = "slack", "email"
SUBJECT_PREFIX = "[catalog_pipeline]"


@dataclass(frozen=True)
class StateChange:
    """One check, provider or job whose state changed since the last sensor tick.

    Attributes:
        failing: True when it turned (or got worse while) failing, False when it recovered.
        name: short name for the subject line (``parity_groq``, ``sync groq``).
        what: what changed, for the message line (``check parity_groq on catalog_reconciliation (WARN)``).
        details: the numbers and affected providers.
        link: where to look in the Dagster UI.
    """

    failing: bool
    name: str
    what: str
    details: str
    link: str


@dataclass(frozen=True)
class Alert:
    """One message, as both channels send it; kept in the sensor cursor until delivered."""

    subject: str
    text: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Alert:
        return cls(subject=data["subject"], text=data["text"])


def compose_alert(changes: Sequence[StateChange]) -> Alert:
    """One message for all state changes of a tick: problems first, then recoveries."""
    failing = [c for c in changes if c.failing]
    recovered = [c for c in changes if not c.failing]
    headline = []
    if failing:
        headline.append(f"FAILING: {', '.join(c.name for c in failing)}")
    if recovered:
        headline.append(f"RECOVERED: {', '.join(c.name for c in recovered)}")
    lines = []
    for change in [*failing, *recovered]:
        lines.append(f"{'FAILING' if change.failing else 'RECOVERED'} {change.what}: {change.details}")
        lines.append(f"  {change.link}")
    return Alert(subject=f"{SUBJECT_PREFIX} {'; '.join(headline)}", text="\n".join(lines))


#: Lines of one price digest; the rest are counted and linked.
MAX_DIGEST_LINES = 50


@dataclass(frozen=True)
class PriceMove:
    """One price change of the change feed, as a digest line shows it."""

    provider: str
    model_id: str
    price_type: str
    unit: str
    old_amount: str | None
    new_amount: str | None
    percent: float | None

    @classmethod
    def from_event(cls, provider: str, model_id: str, details: dict[str, Any]) -> PriceMove:
        return cls(
            provider,
            model_id,
            details.get("price_type", "?"),
            details.get("unit", ""),
            (details.get("old") or {}).get("amount"),
            (details.get("new") or {}).get("amount"),
            details.get("percent"),
        )

    def exceeds(self, threshold: float) -> bool:
        """Moved by more than `threshold` percent; a known price rising from 0 always has."""
        if self.percent is not None:
            return abs(self.percent) > threshold
        return self.old_amount is not None and self.new_amount is not None  # from 0: no percent, a real move

    @property
    def size(self) -> float:
        return float("inf") if self.percent is None else abs(self.percent)

    def line(self) -> str:
        moved = f"{self.percent:+g}%" if self.percent is not None else "from 0"
        return f"{self.provider}/{self.model_id} {self.price_type} {self.old_amount} -> {self.new_amount} {self.unit} ({moved})"


def compose_price_digest(
    moves: Sequence[PriceMove],
    threshold: float,
    run_link: str,
    history_url: Any,
    feed_link: str,
) -> Alert:
    """One message for one sync's price changes above `threshold`, largest first, each with its history link."""
    ordered = sorted(moves, key=lambda move: (-move.size, move.provider, move.model_id, move.price_type))
    providers = sorted({move.provider for move in ordered})
    lines = [f"{len(ordered)} price change(s) above {threshold:g}% in one sync ({', '.join(providers)}): {run_link}"]
    for move in ordered[:MAX_DIGEST_LINES]:
        lines.append(move.line())
        lines.append(f"  {history_url(move.provider, move.model_id)}")
    if len(ordered) > MAX_DIGEST_LINES:
        lines.append(f"... and {len(ordered) - MAX_DIGEST_LINES} more: {feed_link}")
    subject = f"{SUBJECT_PREFIX} PRICES: {len(ordered)} change(s) above {threshold:g}% ({', '.join(providers)})"
    return Alert(subject=subject, text="\n".join(lines))


def _webhook_token(url: str | None) -> str | None:
    """The secret token at the end of a webhook URL's path."""
    return url.rstrip("/").rsplit("/", 1)[-1] if url else None


class AlertDeliveryError(Exception):
    """A channel did not take the message; the text is safe to log."""


class AlertChannelsResource(dg.ConfigurableResource):
    """Where alerts go. Slack when ``SLACK_WEBHOOK_URL`` is set; e-mail through Resend when
    ``RESEND_API_KEY``, ``ALERT_EMAIL`` (comma-separated) and ``ALERT_FROM_EMAIL`` are set.
    Bind the secrets with ``dg.EnvVar`` so the UI shows the variable's name, not its value."""

    slack_webhook_url: str | None = None
    resend_api_key: str | None = None
    alert_email: str | None = None
    alert_from_email: str | None = None
    resend_api_url: str = "https://api.resend.com"
    ui_base_url: str = "http://127.0.0.1:3000"
    timeout_seconds: float = 10.0
    #: ``CATALOG_ALERT_PRICE_CHANGE_PCT``: post a digest of each sync's price changes larger than this
    #: many percent (either way); unset, no digest.
    price_change_alert_pct: str | None = None
    #: ``CATALOG_API_BASE_URL``: where `catalog-pipeline serve` answers, for links to a model's price history.
    api_base_url: str = "http://127.0.0.1:8000"

    @property
    def price_change_threshold(self) -> float | None:
        """The digest threshold in percent, or None when digests are off."""
        raw = (self.price_change_alert_pct or "").strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"CATALOG_ALERT_PRICE_CHANGE_PCT must be a number of percent, got {raw!r}") from None
        if not value >= 0:
            raise ValueError(f"CATALOG_ALERT_PRICE_CHANGE_PCT must be 0 or more, got {raw!r}")
        return value

    def model_history_url(self, provider: str, model_id: str) -> str:
        return f"{self.api_base_url.rstrip('/')}/v1/models/{quote(provider, safe='')}/{quote(model_id, safe='/')}"

    def channels(self) -> list[str]:
        """The configured channels, in delivery order."""
        configured = []
        if self.slack_webhook_url:
            configured.append(SLACK)
        if self.resend_api_key and self.alert_email and self.alert_from_email:
            configured.append(EMAIL)
        return configured

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_base_url.rstrip('/')}/runs/{run_id}"

    def asset_checks_url(self, asset_key: dg.AssetKey) -> str:
        return f"{self.ui_base_url.rstrip('/')}/assets/{'/'.join(asset_key.path)}?view=checks"

    def scrub(self, text: str) -> str:
        """`text` under the one masking rule, the webhook URL and the Resend key included."""
        for secret in (self.slack_webhook_url, self.resend_api_key):
            if secret:
                text = text.replace(secret, "***")
        return mask_secrets(text, extra=[self.resend_api_key, _webhook_token(self.slack_webhook_url)])

    def deliver(self, channel: str, alert: Alert) -> None:
        """Send `alert` on `channel`.

        Raises:
            AlertDeliveryError: the channel is unreachable or refused the message (safe to log).
        """
        if channel == SLACK:
            url = self.slack_webhook_url or ""
            request = {"json": {"text": f"*{self.scrub(alert.subject)}*\n{self.scrub(alert.text)}"}}
        elif channel == EMAIL:
            url = f"{self.resend_api_url.rstrip('/')}/emails"
            request = {
                "json": {
                    "from": self.alert_from_email,
                    "to": [address.strip() for address in (self.alert_email or "").split(",") if address.strip()],
                    "subject": self.scrub(alert.subject),
                    "text": self.scrub(alert.text),
                },
                "headers": {"Authorization": f"Bearer {self.resend_api_key}"},
            }
        else:
            raise AlertDeliveryError(f"unknown alert channel {channel!r}")
        try:
            with httpx.Client(
                timeout=self.timeout_seconds,
                headers={"User-Agent": USER_AGENT},
                transport=httpx.HTTPTransport(retries=1),
            ) as client:
                response = client.post(url, **request)
        except httpx.HTTPError as error:
            raise AlertDeliveryError(f"{channel}: {type(error).__name__} (unreachable)") from None
        if not 200 <= response.status_code < 300:
            raise AlertDeliveryError(f"{channel}: HTTP {response.status_code}")
