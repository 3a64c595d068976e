"""Load embedding models offline, with the prompts their `ModelSpec` decided, in the dtype the device
and model size call for, with the pooling their family needs, and remote code only when opted in.

Example:
    >>> from embedtune.models.loading import load_embedder
    >>> model = load_embedder("all-MiniLM-L6-v2", max_seq_length=256, device="cpu")
    >>> model.encode(["hello"]).shape
    (1, 384)
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError, logger
from embedtune.models import adapters
from embedtune.models.devices import available_memory_bytes, bytes_per_parameter
from embedtune.models.paths import resolve_model
from embedtune.models.spec import ModelSpec, resolve_spec, spec_for

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedtune.config import ModelConfig

GIB = 2**30


@lru_cache(maxsize=4)
def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name_or_path), use_fast=True)


def load_options(model_config: ModelConfig) -> dict[str, Any]:
    """The run config's loading settings as `load_embedder` keywords: pass them wherever a run's models load."""
    return {"trust_remote_code": model_config.trust_remote_code, "dtype": model_config.dtype}


def remote_code_error(spec: ModelSpec) -> EmbedtuneError:
    return EmbedtuneError(
        f"{spec.name} runs Python code shipped with the model (its own architecture or pooling); set "
        "model.trust_remote_code: true to load it, and only for a model whose code you trust"
    )


def check_weights_fit(spec: ModelSpec, dtype: str, device: str) -> None:
    """Refuse, before loading, a model whose weights alone exceed the memory available on `device`."""
    if not spec.parameters:
        return
    needed = spec.parameters * bytes_per_parameter(dtype)
    available = available_memory_bytes(device)
    if needed <= available:
        return
    hint = "set model.dtype: bfloat16 (or float16)" if dtype == "float32" and device.startswith("cuda") else (
        "use a CUDA GPU (model.device: cuda) with more memory" if not device.startswith("cuda") else
        "use a GPU with more memory"
    )
    raise EmbedtuneError(
        f"{spec.name} has {spec.parameters / 1e9:.2f}B parameters: {needed / GIB:.1f} GiB of {dtype} weights, "
        f"but {device} has {available / GIB:.1f} GiB available; {hint}"
    )


def load_embedder(
    spec: ModelSpec | str,
    max_seq_length: int | None = None,
    device: str | None = "auto",
    *,
    trust_remote_code: bool = False,
    dtype: str = "auto",
) -> SentenceTransformer:
    """A SentenceTransformer for `spec` (a name is resolved first), its `prompts` set from the spec.

    - Remote code: a model that runs code from its folder (the catalog says so, or its config.json has an
      `auto_map`) loads only with `trust_remote_code=True`; otherwise an EmbedtuneError says how to opt in.
    - dtype: `embedtune.models.devices.resolve_dtype` (auto: float32, except 1B+ models on a CUDA GPU in
      bfloat16/float16), never transformers' "auto": a checkpoint saved in fp16 still trains with fp32
      master weights. Weights that cannot fit the device are refused before loading.
    - LoRA adapter folders (`training.lora_save: adapter`) load their base model first: found again by its
      recorded name when the folder's reference does not hold here (`embedtune.models.adapters.localize`).
    - Pooling: a folder with sentence-transformers' `modules.json` keeps its own pooling and normalisation;
      a bare transformers folder of a catalog family gets the family's pooling (`spec.pooling`, e.g.
      last-token for Qwen3-Embedding) and L2 normalisation; any other bare folder, sentence-transformers'
      default (mean pooling, last-token for causal LMs).
    """
    import torch
    from sentence_transformers import SentenceTransformer

    from embedtune.models.devices import resolve_dtype, select_device

    if isinstance(spec, str):
        spec = resolve_spec(spec)
    if spec.kind == "api":
        raise EmbedtuneError(f"{spec.name} is an API model: use it in `compare`, it has no local weights")
    if spec.needs_remote_code and not trust_remote_code:
        raise remote_code_error(spec)
    path = spec.path or resolve_model(spec.name)  # raises the clear "unknown model" error
    if adapters.is_adapter_folder(path):  # a LoRA adapter (training.lora_save: adapter): its base must be here
        path = adapters.localize(path)
        spec = replace(spec, parameters=(spec.parameters or 0) + (adapters.base_parameters(path) or 0) or None)
    device = select_device(device)
    dtype = resolve_dtype(dtype, device, spec.parameters)
    check_weights_fit(spec, dtype, device)
    torch_dtype = getattr(torch, dtype)
    if spec.pooling and not (Path(path) / "modules.json").is_file():
        model = _bare_model(path, spec.pooling, device, trust_remote_code, torch_dtype)
        logger.info("%s has no sentence-transformers config: %s pooling (its family's), normalised", spec.name,
                    spec.pooling)
    else:
        model = SentenceTransformer(path, device=device, local_files_only=True, trust_remote_code=trust_remote_code,
                                    model_kwargs={"dtype": torch_dtype})
    adapters.after_load(model, path)
    if max_seq_length:
        model.max_seq_length = min(max_seq_length, model.max_seq_length or max_seq_length)
    # Decided once, in resolve_spec; saved with a model tuned from this one. Other named prompts stay.
    others = {k: v for k, v in (model.prompts or {}).items() if k not in ("query", "document")}
    model.prompts = {**others, **spec.prompts}
    logger.info("loaded embedder %s (dim %s, %s) on %s", spec.name, embedding_dimension(model), dtype, model.device)
    return model


def _bare_model(path: str, pooling: str, device: str, trust_remote_code: bool, torch_dtype: Any) -> SentenceTransformer:
    """Transformer + the family's pooling + Normalize over a folder that has only transformers' files."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    shared = {"trust_remote_code": trust_remote_code, "local_files_only": True}
    transformer = Transformer(path, model_kwargs={**shared, "dtype": torch_dtype}, processor_kwargs=shared,
                              config_kwargs=shared)
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling), Normalize()]
    return SentenceTransformer(modules=modules, device=device)


def load_base_model(model_config: ModelConfig) -> SentenceTransformer:
    """The run config's base model, with the config's prompts if set (else the catalog's or shipped)."""
    return load_embedder(spec_for(model_config), model_config.max_seq_length, model_config.device,
                         **load_options(model_config))


def check_matryoshka_dims(name_or_path: str, dims: list[int], trust_remote_code: bool = False) -> None:
    """Reject Matryoshka dimensions the model cannot produce, before any work starts. The catalog's
    dimension is used when known (nothing loads); a model that needs remote code is loaded only when
    trusted (else the run's own load refuses it with the opt-in message)."""
    spec = resolve_spec(name_or_path)
    if spec.dim:
        dimension = spec.dim
    elif spec.needs_remote_code and not trust_remote_code:
        return
    else:
        dimension = embedding_dimension(load_embedder(spec, trust_remote_code=trust_remote_code))
    too_large = [d for d in dims if d > dimension]
    if too_large:
        raise EmbedtuneError(f"model.matryoshka_dims {too_large} exceed the dimension {dimension} of {name_or_path}")


def embedding_dimension(model: SentenceTransformer) -> int:
    """The output dimension (the method was renamed in sentence-transformers 6)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)
