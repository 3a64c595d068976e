"""Weight-space ensembling of the tuned model with its base (WiSE-FT).

Fine-tuning on synthetic queries moves the model towards *their* style; real searches differ (they share
fewer words with their passages), so some of what the base model knew is worth keeping. WiSE-FT keeps it
without a second model at query time: after training, every floating-point weight becomes

    w = share * w_tuned + (1 - share) * w_base

(`training.merge_with_base` is `share`; 1 keeps the tuned model). Both models come from the same
pre-trained weights, so their average lies in one low-loss basin and usually keeps most of the tuned
model's in-domain gain while losing less on queries unlike the training data.

    >>> from sentence_transformers import SentenceTransformer
    >>> model = SentenceTransformer("all-MiniLM-L6-v2")
    >>> base = snapshot(model)
    >>> # ... train model ...
    >>> interpolate(model, base, 0.5)  # halfway between the base and the tuned weights

References:
    Wortsman et al., "Robust fine-tuning of zero-shot models" (CVPR 2022): WiSE-FT.
    Wortsman et al., "Model soups" (ICML 2022): averaging fine-tuned weights of one pre-trained model.
"""

from __future__ import annotations

from typing import Any

from embedtune import EmbedtuneError


def snapshot(model: Any) -> dict[str, Any]:
    """A CPU copy of the model's floating-point weights (the base, before training)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()
            if tensor.is_floating_point()}


def interpolate(model: Any, base: dict[str, Any], share: float) -> int:
    """In place: every floating-point weight `share` of the model's own, `1 - share` of `base`'s.
    Returns how many tensors were mixed. Raises EmbedtuneError when the two do not have the same weights
    (a different architecture, or LoRA adapters still apart)."""
    import torch

    if not 0 <= share <= 1:
        raise EmbedtuneError(f"training.merge_with_base must be in [0, 1], got {share}")
    state = model.state_dict()
    missing = sorted(set(base) ^ {name for name, tensor in state.items() if tensor.is_floating_point()})
    if missing:
        raise EmbedtuneError(f"cannot merge with the base model: weights differ ({', '.join(missing[:3])} ...)")
    with torch.no_grad():
        for name, original in base.items():
            tensor = state[name]
            tensor.copy_(torch.lerp(original.to(tensor.device, tensor.dtype), tensor, share))
    return len(base)
