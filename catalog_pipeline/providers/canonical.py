"""One slug for one open model, whichever provider lists it and however it is spelled.

``meta-llama/Meta-Llama-3.1-70B-Instruct`` (Together), ``meta-llama/llama-3.1-70b-instruct``
(OpenRouter), ``accounts/fireworks/models/llama-v3p1-70b-instruct`` (Fireworks) and
``@cf/meta/llama-3.1-70b-instruct`` (Cloudflare) and ``llama-3.1-70b-versatile`` (Groq) all map to
``llama-3.1-70b-instruct``. Serving variants (``:free``, ``-Turbo``, ``-fp8``, Nebius' ``-fast``)
collapse; sizes, versions and fine-tune kinds (``-Instruct`` vs base, ``-Coder``, ``-VL``) stay apart.
"""

from __future__ import annotations

import re

# Suffixes that name a serving variant, not a different model.
_VARIANT_SUFFIXES = re.compile(
    r"(:(free|beta|extended|nitro|floor|online|thinking|exacto))+$"
    r"|-(turbo|free|fp8|fp16|bf16|int4|int8|awq|gptq|fast|hf|tee|maas)$"
)
# Groq names its Llama instruct deployments by speed tier.
_SERVING_NAMES = re.compile(r"-(versatile|instant)$")
_VERSION_P = re.compile(r"(?<=\d)p(?=\d)")  # Fireworks writes 3.1 as 3p1
_SEPARATORS = re.compile(r"[\s_]+|-{2,}")
_LLAMA_V = re.compile(r"^llama-?v(?=\d)")  # llama-v3 and llamav3 are llama-3
_FAMILY_NUMBER = re.compile(r"^(llama|qwen|gemma|mistral|phi|mixtral|glm)(?=\d)")  # qwen2 is qwen-2


def canonical_slug(model_id: str) -> str:
    """The provider-independent slug of a model id.

    Args:
        model_id: the id exactly as a provider lists it.

    Returns:
        A lower-case slug of the model name without organisation prefixes or serving
        variants; never empty (falls back to the lower-cased id).
    """
    text = model_id.strip().lower()
    name = _SEPARATORS.sub("-", text.rsplit("/", 1)[-1] or text)
    stripped = 1
    while stripped:  # `:free` off `-fp8:free`, then `-fp8`: one suffix at the end per pass
        name, stripped = _VARIANT_SUFFIXES.subn("", name)
    name = name.removeprefix("meta-")
    if name.startswith("llama"):
        name = _SERVING_NAMES.sub("-instruct", name)
    name = _VERSION_P.sub(".", name)
    name = _LLAMA_V.sub("llama-", name)
    name = _FAMILY_NUMBER.sub(r"\1-", name)
    name = _SEPARATORS.sub("-", name).strip("-")
    return name or text
