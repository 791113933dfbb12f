"""One slug for one open model, whichever provider lists it and however it is spelled.

``meta-llama/Meta-Llama-3.1-70B-Instruct`` (Together), ``meta-llama/llama-3.1-70b-instruct``
(OpenRouter), ``accounts/fireworks/models/llama-v3p1-70b-instruct`` (Fireworks) and
``@cf/meta/llama-3.1-70b-instruct`` (Cloudflare) and ``llama-3.1-70b-versatile`` (Groq) all map to
``llama-3.1-70b-instruct``. Serving variants (``:free``, ``-Turbo``, ``-fp8``, Nebius' ``-fast``)
collapse; sizes, versions and fine-tune kinds (``-Instruct`` vs base, ``-Coder``, ``-VL``) stay apart.
"""

from __future__ import annotations

import re

# Suffixes that name a serving variant, not a different model: a separator and one word, so the one a name
# can end with starts at its last `-` or `:`.
_VARIANT_SUFFIXES = frozenset(
    [f":{word}" for word in ("free", "beta", "extended", "nitro", "floor", "online", "thinking", "exacto")]
    + [
        f"-{word}"
        for word in ("turbo", "free", "fp8", "fp16", "bf16", "int4", "int8", "awq", "gptq", "fast", "hf", "tee", "maas")
    ]
)
# Groq names its Llama instruct deployments by speed tier.
_SERVING_NAMES = re.compile(r"-(versatile|instant)$")
_VERSION_P = re.compile(r"(?<=\d)p(?=\d)")  # Fireworks writes 3.1 as 3p1
_SEPARATORS = re.compile(r"[\s_]+|-{2,}")
_LLAMA_V = re.compile(r"^llama-?v(?=\d)")  # llama-v3 and llamav3 are llama-3
_FAMILIES = ("llama", "qwen", "gemma", "mistral", "phi", "mixtral", "glm")
_FAMILY_NUMBER = re.compile(rf"^({'|'.join(_FAMILIES)})(?=\d)")  # qwen2 is qwen-2


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
    while True:  # `:free` off `-fp8:free`, then `-fp8`
        cut = max(name.rfind("-"), name.rfind(":"))
        if cut < 0 or name[cut:] not in _VARIANT_SUFFIXES:
            break
        name = name[:cut]
    name = name.removeprefix("meta-")
    llama = name.startswith("llama")
    if llama:
        name = _SERVING_NAMES.sub("-instruct", name)
    name = _VERSION_P.sub(".", name)
    if llama:
        name = _LLAMA_V.sub("llama-", name)
    if name.startswith(_FAMILIES):
        name = _FAMILY_NUMBER.sub(r"\1-", name)
    if "--" in name:  # the only separator run left: `a - b` became `a---b` above
        name = _SEPARATORS.sub("-", name)
    return name.strip("-") or text
