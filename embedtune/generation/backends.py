"""The generation backends by name, and `make_generator(config)`, which builds the configured one.

`BACKENDS` maps `generation.backend` to a factory `(config) -> QueryGenerator`:

- `heuristic`: extractive pseudo-queries, no LLM (`embedtune.generation.heuristic`);
- `llamacpp`: the packaged (or a configured) GGUF model in-process with llama.cpp, output constrained by
  the JSON schema of `embedtune.generation.prompts.query_schema`; the offline default;
- `openai`: any OpenAI-compatible endpoint (OpenAI, vLLM or Ollama servers, llama.cpp server);
- `transformers`: a Hugging Face causal LM in-process (GPU when present);
- `vllm`: vLLM in-process on GPUs.

The LLM factories only build a distilabel LLM and its generation kwargs and hand them to
`embedtune.generation.runner.DistilabelQueryGenerator`. Every heavy dependency (distilabel, llama_cpp,
openai, vllm) is imported inside its factory, so importing this module is cheap and a backend's packages
load only when it is used. To add a backend, write a factory here and add it to `BACKENDS`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from embedtune import EmbedtuneError, logger
from embedtune.util.redact import redact_url, register_secret

if TYPE_CHECKING:
    from embedtune.config import GenerationConfig
    from embedtune.generation.base import QueryGenerator
    from embedtune.generation.runner import DistilabelQueryGenerator


def heuristic(config: GenerationConfig) -> QueryGenerator:
    """The no-LLM fallback: instant, offline, extractive pseudo-queries."""
    from embedtune.generation.heuristic import HeuristicGenerator

    return HeuristicGenerator(config)


def make_llamacpp(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """The local offline backend: llama.cpp with JSON-schema constrained output."""
    # First: importing the runner sets OMP_WAIT_POLICY, which must happen before llama_cpp is imported.
    from embedtune.generation.runner import DistilabelQueryGenerator

    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    try:
        import llama_cpp  # noqa: F401  (checked here so the error names the fix; env var set above)
    except ImportError as error:
        raise EmbedtuneError(
            f"the llamacpp backend needs llama-cpp-python ({error}); run `make install` or "
            '`CMAKE_ARGS="-DGGML_NATIVE=ON" pip install --no-cache-dir llama-cpp-python==0.3.36`'
        ) from error
    from distilabel.models.llms import LlamaCppLLM

    from embedtune.generation.gguf import PACKAGED_MODELS, packaged_model_path
    from embedtune.generation.prompts import query_schema

    options = config.llamacpp
    if options.model_path:
        model_path = Path(options.model_path).expanduser()
        if not model_path.is_file():
            raise EmbedtuneError(f"generation.llamacpp.model_path does not exist: {model_path}")
        model_name = model_path.stem.lower()
    else:
        packaged = PACKAGED_MODELS[options.model]
        model_path = packaged_model_path(packaged)
        model_name = packaged.name
    threads = options.n_threads or max(1, os.cpu_count() or 1)
    batched = {}
    if options.parallel > 1:  # several prompts per forward pass (embedtune.generation.batched)
        from embedtune.generation.batched import BatchedLlamaCppLLM as LlamaCppLLM

        batched = {"parallel": options.parallel}
    llm = LlamaCppLLM(
        **batched,
        model_path=str(model_path),
        n_gpu_layers=options.n_gpu_layers,
        n_ctx=options.n_ctx,
        n_batch=min(512, options.n_ctx),
        seed=config.seed,
        verbose=False,
        extra_kwargs={"n_threads": threads, "n_threads_batch": threads},
    )
    generation_kwargs = {
        "max_new_tokens": options.max_new_tokens,
        "temperature": options.temperature,
        "top_p": 0.9,
        "extra_generation_kwargs": {
            "response_format": {"type": "json_object", "schema": query_schema(hard_negative)},
            "repeat_penalty": 1.1,
        },
    }
    # Leave room for the prompt scaffolding (~250 tokens) and the answer; ~3.5 characters per token.
    max_passage_chars = max(500, int((options.n_ctx - 300 - options.max_new_tokens) * 3.5))
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"llamacpp:{model_name}",
        batch_size=max(8, options.parallel),
        hard_negative=hard_negative,
        max_passage_chars=max_passage_chars,
        # In-process: llama.cpp's OpenMP threads hang in a worker forked from a process whose OpenMP
        # runtime torch already started (seen when generation follows training in one process).
        default_mode="direct",
    )


def make_openai(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """Any OpenAI-compatible endpoint. The openai client retries 429/408/409/5xx and connection errors
    with exponential backoff (honouring Retry-After) up to `max_retries`."""
    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    try:
        import openai  # noqa: F401
    except ImportError as error:
        raise EmbedtuneError(
            f"the openai backend needs the openai client ({error}); run `make install` or `pip install openai`"
        ) from error
    from distilabel.models.llms import OpenAILLM
    from pydantic import SecretStr

    from embedtune.generation.runner import DistilabelQueryGenerator

    options = config.openai
    key = os.environ.get(options.api_key_env)
    register_secret(key)  # kept out of every log record from here on
    shown_url = redact_url(options.base_url or "https://api.openai.com/v1")  # never a URL's user:password
    url_password = urlsplit(options.base_url or "").password
    register_secret(url_password)
    if not key:
        if options.base_url:  # local servers (vLLM, Ollama, llama.cpp server) accept any key
            key = "not-needed"
            logger.info("$%s is not set; sending a placeholder key to %s", options.api_key_env, shown_url)
        else:
            raise EmbedtuneError(
                f"the openai backend reads its API key from ${options.api_key_env}, which is not set; "
                "export it, or set generation.openai.api_key_env / base_url"
            )
    llm_kwargs: dict[str, Any] = {
        "model": options.model,
        "api_key": SecretStr(key),
        "max_retries": options.max_retries,
        "timeout": max(1, math.ceil(options.timeout_s)),
    }
    if options.base_url:
        llm_kwargs["base_url"] = options.base_url
    llm = OpenAILLM(**llm_kwargs)
    generation_kwargs = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature}
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"openai:{options.model}",
        batch_size=options.max_concurrency,  # one batch is sent concurrently by distilabel's AsyncLLM
        hard_negative=hard_negative,
        price_per_1k=(options.price_per_1k_prompt_tokens, options.price_per_1k_completion_tokens),
        cache_salt=options.base_url or "",
        # Direct: each request fails alone, and every answer is journalled as it arrives, so a killed
        # run resumes without paying twice; EMBEDTUNE_DISTILABEL_MODE=pipeline uses a distilabel Pipeline.
        default_mode="direct",
        endpoint=shown_url,
        secrets=[key, url_password or ""],
        key_env=options.api_key_env,
    )


def _local_model(config: GenerationConfig, backend: str) -> str:
    model = config.local_model.model
    if not model:
        raise EmbedtuneError(
            f"the {backend} backend needs generation.local_model.model: a local path or cached hub id of an "
            "instruct model (offline, a hub id must already be in the Hugging Face cache)"
        )
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


def make_transformers(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """A Hugging Face causal LM in-process through distilabel's TransformersLLM (GPU when present)."""
    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    from distilabel.models.llms import TransformersLLM

    from embedtune.generation.runner import DistilabelQueryGenerator

    options = config.local_model
    model = _local_model(config, "transformers")
    llm = TransformersLLM(
        model=model,
        device=options.device,
        torch_dtype=options.torch_dtype,
        chat_template=options.chat_template,
        token=None,
    )
    generation_kwargs = {
        "max_new_tokens": options.max_new_tokens,
        "temperature": max(options.temperature, 1e-5),
        "top_p": 0.9,
        "do_sample": options.temperature > 0,
    }
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"transformers:{Path(model).name}",
        batch_size=8,
        hard_negative=hard_negative,
        default_mode="direct",  # one model in this process; no forked workers
    )


def make_vllm(config: GenerationConfig, hard_negative: bool | None = None) -> DistilabelQueryGenerator:
    """vLLM in-process on GPUs through distilabel's vLLM class (install vllm yourself on a GPU machine)."""
    hard_negative = config.llm_hard_negative if hard_negative is None else hard_negative
    try:
        import vllm  # noqa: F401
    except ImportError as error:
        raise EmbedtuneError(
            f"the vllm backend needs the vllm package on a CUDA machine ({error}); `pip install vllm` there, "
            "or serve the model with `vllm serve` and use `generation.backend: openai` with `openai.base_url`"
        ) from None
    from distilabel.models.llms import vLLM

    from embedtune.generation.runner import DistilabelQueryGenerator

    options = config.local_model
    model = _local_model(config, "vllm")
    llm = vLLM(
        model=model,
        chat_template=options.chat_template,
        extra_kwargs={"tensor_parallel_size": options.tensor_parallel_size},
    )
    generation_kwargs = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature, "top_p": 0.9}
    return DistilabelQueryGenerator(
        config,
        llm,
        generation_kwargs,
        generator_name=f"vllm:{Path(model).name}",
        batch_size=64,  # vLLM batches internally; large batches keep the GPU busy
        hard_negative=hard_negative,
        default_mode="direct",
    )


BACKENDS: dict[str, Callable[[GenerationConfig], QueryGenerator]] = {
    "heuristic": heuristic,
    "llamacpp": make_llamacpp,
    "openai": make_openai,
    "transformers": make_transformers,
    "vllm": make_vllm,
}


def make_generator(config: GenerationConfig) -> QueryGenerator:
    """The generator `config.backend` names, built from `config`.

    Raises:
        EmbedtuneError: an unknown backend, missing packages, or a backend that cannot work as configured
            (no model, no API key ...), with a message naming the fix.
    """
    factory = BACKENDS.get(config.backend)
    if factory is None:
        raise EmbedtuneError(f"unknown generation backend '{config.backend}'; choose one of {sorted(BACKENDS)}")
    try:
        return factory(config)
    except ImportError as error:
        raise EmbedtuneError(
            f"generation backend '{config.backend}' needs packages that are not installed ({error}); "
            "run `make install` or pick `generation.backend: heuristic`"
        ) from error
