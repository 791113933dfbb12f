"""Deterministic demo models: realistic ids, sizes and prices, the same on every run."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from catalog_pipeline.providers.spec import ProviderSpec

_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("meta-llama", "Llama-3.1", ("8B", "70B", "405B")),
    ("meta-llama", "Llama-3.3", ("70B",)),
    ("meta-llama", "Llama-4-Scout", ("17B-16E",)),
    ("qwen", "Qwen2.5", ("0.5B", "1.5B", "7B", "14B", "32B", "72B")),
    ("qwen", "Qwen3", ("4B", "8B", "14B", "32B", "235B-A22B")),
    ("mistralai", "Mistral", ("7B", "Small-24B", "Large-123B")),
    ("mistralai", "Mixtral", ("8x7B", "8x22B")),
    ("google", "gemma-2", ("2b", "9b", "27b")),
    ("google", "gemma-3", ("4b", "12b", "27b")),
    ("deepseek-ai", "DeepSeek-R1-Distill-Llama", ("8B", "70B")),
    ("deepseek-ai", "DeepSeek-V3", ("671B",)),
    ("microsoft", "Phi-3.5", ("mini", "MoE")),
    ("microsoft", "phi-4", ("14B",)),
    ("nousresearch", "Hermes-3-Llama-3.1", ("8B", "70B")),
    ("thudm", "glm-4", ("9b", "32b")),
    ("01-ai", "Yi-1.5", ("9B", "34B")),
)
_VARIANTS = ("Instruct", "Chat", "Base", "Coder-Instruct", "Instruct-AWQ", "Vision-Instruct")
_FINETUNERS = (
    "sao10k",
    "gryphe",
    "teknium",
    "cognitivecomputations",
    "nvidia",
    "allenai",
    "upstage",
    "sophosympatheia",
)
_CONTEXTS = (4096, 8192, 16384, 32768, 65536, 131072, 200000, 1048576)
_PRICE_GRID = tuple(
    Decimal(p) for p in ("0.02", "0.05", "0.06", "0.1", "0.15", "0.2", "0.27", "0.35", "0.6", "0.88", "1.2", "3", "15")
)
_UPSTREAMS = ("together", "fireworks-ai", "novita", "nebius", "sambanova", "groq", "cerebras", "hyperbolic")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DemoModel:
    """One model as the replay server lists it; prices in USD per million tokens."""

    model_id: str
    display_name: str
    organization: str
    context_length: int | None
    max_output_tokens: int | None
    input_price: Decimal | None
    output_price: Decimal | None
    created: int
    uuid: str
    upstreams: tuple[str, ...] = ()

    @property
    def created_iso(self) -> str:
        return datetime.fromtimestamp(self.created, UTC).isoformat().replace("+00:00", "Z")


def demo_id(template: str, organization: str, name: str, attempt: int) -> str:
    """One id in a provider's spelling; see `ProviderSpec.demo_id_template` for the placeholders."""
    return template.format(
        org=organization,
        name=name,
        lorg=organization.lower(),
        lname=name.lower(),
        pname=name.lower().replace(".", "p"),
        date=_EPOCH.date().replace(day=1 + attempt % 28).strftime("%Y%m%d"),
    )


def demo_models(spec: ProviderSpec, size: int, price_multiplier: Decimal = Decimal(1)) -> list[DemoModel]:
    """`size` distinct models for `spec`, identical for identical arguments.

    Args:
        spec: whose id spelling (`demo_id_template`) and price fields to follow.
        size: how many models.
        price_multiplier: scales every price, to simulate a provider's price change.
    """
    rng = random.Random(f"catalog-pipeline:{spec.slug}")
    models: list[DemoModel] = []
    seen: set[str] = set()
    priced = bool(spec.prices)
    attempt = 0
    while len(models) < size:
        attempt += 1
        organization, family, sizes = rng.choice(_FAMILIES)
        base_name = f"{family}-{rng.choice(sizes)}-{rng.choice(_VARIANTS)}"
        if attempt > len(_FAMILIES) * 6:
            # past the well-known models come community fine-tunes, as on Hugging Face
            organization = rng.choice(_FINETUNERS)
            base_name = f"{base_name}-ft{attempt:05d}"
        model_id = demo_id(spec.demo_id_template, organization, base_name, attempt)
        if model_id in seen:
            continue
        context = rng.choice(_CONTEXTS)
        input_price = output_price = None
        if priced:
            input_price = rng.choice(_PRICE_GRID) * price_multiplier
            output_price = input_price * rng.choice((1, 2, 3, 4))
            if rng.random() < 0.03:
                input_price = output_price = Decimal(0)
                model_id += spec.demo_free_suffix
                if model_id in seen:
                    continue
        seen.add(model_id)
        models.append(
            DemoModel(
                model_id=model_id,
                display_name=base_name.replace("-", " "),
                organization=organization,
                context_length=context,
                max_output_tokens=min(context, rng.choice((4096, 8192, 16384, 32768))),
                input_price=input_price,
                output_price=output_price,
                created=int(_EPOCH.timestamp()) + attempt * 3600,
                uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                upstreams=tuple(rng.sample(_UPSTREAMS, rng.randint(1, 3))),
            )
        )
    return models
