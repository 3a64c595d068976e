"""How much memory a training run needs, estimated before it starts, and a refusal when it cannot fit.

The estimate is deliberately rough and errs high (sequences at full `max_seq_length`, attention scores
stored), so a run it lets through does not die of out-of-memory an hour in:

    weights      parameters x bytes of their dtype
    gradients    trainable parameters x bytes of their dtype (fp32 for LoRA adapters)
    optimizer    trainable parameters x 8 (AdamW's two fp32 moments)
    activations  per layer and token: hidden x (34 + 5 x heads x seq / hidden) x bytes / 2 (Korthikanti et
                 al. 2022, 16-bit = 2 bytes); with gradient checkpointing only each layer's input
                 (hidden x bytes) plus one layer's full set. Tokens in flight: CachedMNRL backpropagates
                 one mini-batch of one column at a time (mini_batch_size x seq); MarginMSE and DistillKL
                 the whole batch of every column (batch_size x (2 + negatives) x seq). Autocast on a CPU
                 counts as 4 bytes (it keeps much in fp32).
    overhead     x 1.1, plus 0.5 GiB on a GPU (CUDA context, allocator)

Available memory: free GPU memory plus what this process already holds there; on CPU and MPS, available
RAM plus the model's own weights (already resident). When the estimate exceeds it, `check_training_memory`
raises one EmbedtuneError line with the estimate and the first setting that would fit: LoRA, bf16
weights (GPU), gradient checkpointing, a smaller (mini) batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError, logger

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedtune.config import TrainingConfig

GIB = 2**30
OPTIMIZER_BYTES_PER_PARAMETER = 8  # AdamW: exp_avg and exp_avg_sq in fp32
GPU_OVERHEAD_BYTES = GIB // 2
OVERHEAD_FACTOR = 1.1


@dataclass(frozen=True)
class TrainingShape:
    """What the estimate needs to know about the model and the run; every field is plain data."""

    parameters: int
    weight_bytes: int  # all weights as loaded (their own dtypes)
    trainable: int  # parameters that get gradients and optimizer state
    trainable_bytes: int  # bytes per trainable parameter (its dtype: 4 for fp32 and LoRA adapters)
    lora_trainable: int  # trainable parameters if LoRA (rank training.lora_r) were used instead
    hidden_size: int
    layers: int
    heads: int
    seq_len: int
    tokens_in_flight: int  # tokens whose activations are kept for backward at once
    activation_bytes: int  # 2 under bf16/fp16 autocast or half weights, else 4
    gradient_checkpointing: bool
    lora: bool
    device: str
    guide_bytes: int = 0  # a frozen copy of the weights (`training.in_batch_guide: base`), made after the check


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    gradients: int
    optimizer: int
    activations: int
    total: int

    def describe(self) -> str:
        parts = (("weights", self.weights), ("gradients", self.gradients), ("optimizer", self.optimizer),
                 ("activations", self.activations))
        return f"{self.total / GIB:.1f} GiB (" + ", ".join(f"{name} {size / GIB:.1f}" for name, size in parts) + ")"


def estimate(shape: TrainingShape) -> MemoryEstimate:
    """The memory a training step of `shape` needs at its peak (see the module docstring for the formula)."""
    gradients = shape.trainable * shape.trainable_bytes
    optimizer = shape.trainable * OPTIMIZER_BYTES_PER_PARAMETER
    hidden = max(1, shape.hidden_size)
    per_token_layer = hidden * (34 + 5 * shape.heads * shape.seq_len / hidden) * shape.activation_bytes / 2
    full_layer = shape.tokens_in_flight * per_token_layer
    if shape.gradient_checkpointing:
        activations = shape.tokens_in_flight * hidden * shape.activation_bytes * shape.layers + full_layer
    else:
        activations = full_layer * shape.layers
    subtotal = shape.weight_bytes + shape.guide_bytes + gradients + optimizer + int(activations)
    overhead = GPU_OVERHEAD_BYTES if shape.device.startswith("cuda") else 0
    return MemoryEstimate(weights=shape.weight_bytes + shape.guide_bytes, gradients=gradients, optimizer=optimizer,
                          activations=int(activations), total=int(subtotal * OVERHEAD_FACTOR) + overhead)


def tokens_in_flight(config: TrainingConfig, batch_size: int, seq_len: int, margin_texts: int = 3) -> int:
    """Tokens whose activations backward needs at once, for `config.loss`; `margin_texts`: texts per distillation
    row (query, positive and its k negatives: 2 + k)."""
    tokens = 0
    if "mnrl" in config.loss:
        tokens = max(tokens, min(config.mini_batch_size, batch_size) * seq_len)
    if config.loss != "mnrl":  # margin_mse or distill_kl: all texts of a row's batch at once
        tokens = max(tokens, batch_size * margin_texts * seq_len)
    return tokens


def _lora_trainable(model: SentenceTransformer, config: TrainingConfig) -> int:
    """Adapter parameters LoRA would add: r x (in + out) for each targeted linear layer."""
    import torch

    targets = config.lora_target_modules
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and (not targets or name.rsplit(".", 1)[-1] in targets):
            total += config.lora_r * (module.in_features + module.out_features)
    return total


def _architecture(model: SentenceTransformer) -> tuple[int, int, int]:
    """(hidden size, layers, attention heads) of the model's transformer, from its config."""
    first = model[0] if len(model) else None
    transformers_model = getattr(first, "auto_model", None) or getattr(first, "model", None)
    config: Any = getattr(transformers_model, "config", None)
    text_config = getattr(config, "text_config", None) or config
    hidden = int(getattr(text_config, "hidden_size", 0) or getattr(text_config, "d_model", 0) or 0)
    layers = int(getattr(text_config, "num_hidden_layers", 0) or getattr(text_config, "n_layers", 0) or 0)
    heads = int(getattr(text_config, "num_attention_heads", 0) or getattr(text_config, "n_heads", 0) or 0)
    if not hidden:
        from embedtune.models.loading import embedding_dimension

        hidden = embedding_dimension(model)
    return hidden, max(layers, 1), max(heads, 1)


def training_shape(model: SentenceTransformer, config: TrainingConfig, batch_size: int, device: str,
                   mixed_precision: bool, margin_texts: int = 3) -> TrainingShape:
    """The `TrainingShape` of `model` (as it will train: LoRA adapters already added when `config.lora`)."""
    parameters = list(model.parameters())
    trainable = [p for p in parameters if p.requires_grad]
    hidden, layers, heads = _architecture(model)
    seq_len = int(model.max_seq_length or 512)
    half_weights = any(p.element_size() == 2 and p.is_floating_point() for p in parameters)
    return TrainingShape(
        parameters=sum(p.numel() for p in parameters),
        weight_bytes=sum(p.numel() * p.element_size() for p in parameters),
        trainable=sum(p.numel() for p in trainable),
        trainable_bytes=trainable[0].element_size() if trainable else 4,
        lora_trainable=_lora_trainable(model, config),
        hidden_size=hidden, layers=layers, heads=heads, seq_len=seq_len,
        tokens_in_flight=tokens_in_flight(config, batch_size, seq_len, margin_texts),
        # CPU autocast keeps much in fp32 (a distill_kl run of 10 texts x 32 x 256 tokens estimated at 2 bytes
        # as 17 GiB was killed at 22.8): counted as fp32 there, erring high
        activation_bytes=2 if (mixed_precision and not device.startswith("cpu")) or half_weights else 4,
        gradient_checkpointing=config.gradient_checkpointing, lora=config.lora, device=device,
        guide_bytes=sum(p.numel() * p.element_size() for p in parameters) if config.in_batch_guide == "base" else 0,
    )


def available_for_training(shape: TrainingShape) -> int:
    """Bytes the run may use: the device's available memory, plus the resident weights on CPU/MPS."""
    from embedtune.models.devices import available_memory_bytes

    available = available_memory_bytes(shape.device)
    return available if shape.device.startswith("cuda") else available + shape.weight_bytes


def alternatives(shape: TrainingShape, config: TrainingConfig, batch_size: int) -> list[tuple[str, TrainingShape]]:
    """Settings that shrink the run, in the order they are worth trying, each with its shape."""
    options: list[tuple[str, TrainingShape]] = []
    current = shape
    steps: list[str] = []
    if not shape.lora:
        current = replace(current, lora=True, trainable=shape.lora_trainable, trainable_bytes=4,
                          weight_bytes=shape.weight_bytes + shape.lora_trainable * 4)
        steps.append("training.lora: true")
        options.append((", ".join(steps), current))
    if shape.device.startswith("cuda") and shape.weight_bytes >= shape.parameters * 4:
        current = replace(current, weight_bytes=current.weight_bytes - shape.parameters * 2, activation_bytes=2)
        steps.append("model.dtype: bfloat16")
        options.append((", ".join(steps), current))
    if not shape.gradient_checkpointing:
        current = replace(current, gradient_checkpointing=True)
        steps.append("training.gradient_checkpointing: true")
        options.append((", ".join(steps), current))
    mini = min(config.mini_batch_size, batch_size)
    while mini > 1 and config.loss == "mnrl":
        mini //= 2
        current = replace(current, tokens_in_flight=mini * shape.seq_len)
        options.append((", ".join([*steps, f"training.mini_batch_size: {mini}"]), current))
    return options


def check_training_memory(shape: TrainingShape, config: TrainingConfig, batch_size: int,
                          name: str = "the model") -> MemoryEstimate:
    """The estimate for `shape`; raises EmbedtuneError (one line: estimate, available, a setting that
    fits) when it exceeds the available memory. `training.memory_check: false` turns the refusal off."""
    needed = estimate(shape)
    available = available_for_training(shape)
    logger.info("training memory estimate for %s: %s; %.1f GiB available on %s", name, needed.describe(),
                available / GIB, shape.device)
    if needed.total <= available or not config.memory_check:
        return needed
    fits = next((label for label, option in alternatives(shape, config, batch_size)
                 if estimate(option).total <= available), None)
    suggestion = f"set {fits}" if fits else "no setting here fits: use a device with more memory or a smaller model"
    raise EmbedtuneError(
        f"training {name} on {shape.device} needs about {needed.describe()} but {available / GIB:.1f} GiB is "
        f"available; {suggestion} (or training.memory_check: false to try anyway)"
    )
