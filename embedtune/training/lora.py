"""LoRA adapters for large models: added before training, merged into the weights after it.

Only the adapters (rank `training.lora_r` on every linear layer, or `training.lora_target_modules`) get
gradients and optimizer state, so a 4B-8B model trains in a fraction of full fine-tuning's memory, and
its base weights may stay in bf16/fp16 (`model.dtype`); the adapters train in fp32 (peft's default).
After training, by `training.lora_save`:
- `merged` (default): `merge_lora` folds each adapter into its base layer and removes peft's wrappers: the
  saved model is a plain sentence-transformers directory that `SentenceTransformer(path)` loads without
  peft and without the base model.
- `adapter`: `keep_adapter` leaves the adapters in place and makes the model save as an adapter folder
  (`embedtune.models.adapters`: adapter_config.json + adapter_model.safetensors, megabytes, on the base
  recorded by `adapter_base` before training); `SentenceTransformer(path)` loads the base, then the adapter.

Adapters go in with peft's own `inject_adapter_in_model` rather than transformers' `add_adapter` (which
sentence-transformers' `model.add_adapter` calls): transformers 5.x's integration demands a peft newer
than the registry has. So checkpoints carry the adapters in a file of their own (`ADAPTER_FILE`,
written by `AdapterCheckpoints`), which `load_adapter_state` puts back for the best model and on resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from transformers import TrainerCallback

from embedtune import EmbedtuneError, logger
from embedtune.models import adapters

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedtune.config import TrainingConfig
    from embedtune.models.adapters import AdapterBase

ADAPTER_FILE = "embedtune-lora.safetensors"


def _transformers_model(model: SentenceTransformer):
    first = model[0] if len(model) else None
    inner = getattr(model, "transformers_model", None) or getattr(first, "auto_model", None)
    if inner is None:
        raise EmbedtuneError("training.lora needs a model whose first module is a transformers model")
    return inner


def add_lora(model: SentenceTransformer, config: TrainingConfig) -> int:
    """Add a trainable LoRA adapter to `model` (in place); returns its number of trainable parameters.

    Everything else is frozen. Raises EmbedtuneError when peft is not installed (`pip install
    'embedtune[lora]'`) or the model has no transformers backbone."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise EmbedtuneError("training.lora needs peft: pip install 'embedtune[lora]' (or peft)") from None
    inner = _transformers_model(model)
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, bias="none",
        target_modules=list(config.lora_target_modules) if config.lora_target_modules else "all-linear",
    )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        inject_adapter_in_model(lora, inner)
    except ValueError as error:  # e.g. target modules that the architecture does not have
        raise EmbedtuneError(f"training.lora could not adapt this model: {error}") from None
    for parameter in model.parameters():  # peft gives adapters the base layer's dtype; they train in fp32
        if parameter.requires_grad and parameter.is_floating_point() and parameter.element_size() < 4:
            parameter.data = parameter.data.float()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("LoRA r=%d alpha=%d: %d of %d parameters train (%.2f%%)", config.lora_r, config.lora_alpha,
                trainable, total, 100 * trainable / max(total, 1))
    return trainable


def has_lora(model: SentenceTransformer) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(module, BaseTunerLayer) for module in model.modules())


def merge_lora(model: SentenceTransformer) -> int:
    """Fold every LoRA adapter of `model` into its base weights and drop peft's wrappers (in place); every
    weight is trainable again and `model.save` writes full weights, no adapter. Returns the layers merged."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    inner = _transformers_model(model)
    merged = 0
    for name, module in list(inner.named_modules()):
        if not isinstance(module, BaseTunerLayer):
            continue
        module.merge(safe_merge=True)
        parent_name, _, child = name.rpartition(".")
        parent = inner.get_submodule(parent_name) if parent_name else inner
        setattr(parent, child, module.get_base_layer())
        merged += 1
    if "peft_config" in vars(inner):
        del inner.peft_config
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    logger.info("merged %d LoRA layers into the base weights", merged)
    return merged


def adapter_base(model: SentenceTransformer, base_name: str) -> AdapterBase:
    """The base an adapter save of `model` will name: the folder its transformers model was loaded from,
    under the run's `model.base_model` name. Called before training, so a base that was not loaded from a
    model folder is refused (EmbedtuneError) before any work."""
    inner = _transformers_model(model)
    return adapters.describe_base(base_name, getattr(inner, "name_or_path", "") or "")


def keep_adapter(model: SentenceTransformer, base: AdapterBase) -> None:
    """Keep `model`'s LoRA adapters unmerged (in place): `model.save(path)` writes an adapter folder on `base`
    (`embedtune.models.adapters.attach`). The model encodes exactly as after training."""
    adapters.attach(model, base)
    logger.info("LoRA adapters kept unmerged (training.lora_save: adapter) on base %s", base.reference)


def adapter_state(model: SentenceTransformer) -> dict:
    """The adapter weights (every `lora_` parameter of the transformers model), by name."""
    inner = _transformers_model(model)
    return {name: parameter.detach() for name, parameter in inner.named_parameters() if "lora_" in name}


def save_adapter_state(model: SentenceTransformer, folder: str | Path) -> Path:
    from safetensors.torch import save_file

    path = Path(folder) / ADAPTER_FILE
    save_file({name: tensor.contiguous().cpu() for name, tensor in adapter_state(model).items()}, str(path))
    return path


def load_adapter_state(model: SentenceTransformer, folder: str | Path) -> None:
    """Put the adapters saved in checkpoint `folder` back into `model`; every adapter must be there."""
    from safetensors.torch import load_file

    path = Path(folder) / ADAPTER_FILE
    if not path.is_file():
        raise EmbedtuneError(f"checkpoint {folder} has no LoRA adapters ({ADAPTER_FILE}); it is not from a LoRA run")
    state = load_file(str(path))
    missing = set(adapter_state(model)) - set(state)
    if missing:
        raise EmbedtuneError(f"checkpoint {folder} lacks {len(missing)} of this model's LoRA tensors (other settings?)")
    inner = _transformers_model(model)
    device = next(inner.parameters()).device
    inner.load_state_dict({name: tensor.to(device) for name, tensor in state.items()}, strict=False)


class AdapterCheckpoints(TrainerCallback):
    """Writes the adapters into each checkpoint folder the Trainer saves (see `load_adapter_state`)."""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            save_adapter_state(self.model, folder)


def trainer_class(base: type) -> type:
    """`base` (SentenceTransformerTrainer) whose checkpoint loading (the best model at the end, resuming)
    puts the adapters back instead of reloading the folder as a model."""

    class LoraTrainer(base):  # type: ignore[misc, valid-type]
        def _load_from_checkpoint(self, checkpoint_path, *args, **kwargs):
            load_adapter_state(self.model, checkpoint_path)
            logger.info("LoRA adapters loaded from %s", Path(checkpoint_path).name)

    return LoraTrainer
