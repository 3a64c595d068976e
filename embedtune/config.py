"""One typed configuration object for a run, loaded from a YAML file in `configs/`.

The YAML holds ZenML's own run options (`enable_cache`, `model`, `settings`, `steps`, `schedule`) at the
top level and embedtune's settings under `parameters:`. Everything is validated before any work starts:
unknown keys, wrong types and impossible values are rejected with the offending key named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from embedtune import EmbedtuneError

ZENML_OPTION_KEYS = {
    "enable_cache",
    "enable_artifact_metadata",
    "enable_step_logs",
    "model",
    "settings",
    "steps",
    "schedule",
    "run_name",
    "extra",
    "environment",
    "secrets",
    "tags",
    "retry",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IngestConfig(_Section):
    corpus: str = Field(
        "docs", description="Folder, file, `hf:<dataset>[:split]`, or a URI (s3://, gs://, az://, hf://) read in the step."
    )
    extensions: list[str] = [".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".jsonl", ".pdf"]
    exclude: list[str] = Field([], description="Glob patterns (relative to the corpus folder) to skip.")
    text_field: str = Field("text", description="JSONL / Hugging Face column with the document text.")
    title_field: str = "title"
    id_field: str = Field("_id", description="JSONL / HF column with a document id, if any.")
    max_file_mb: float = Field(20.0, gt=0, description="Larger files are skipped with a warning.")
    sample_documents: int | None = Field(None, gt=0, description="Seeded sample of documents.")
    seed: int = 42


class ChunkingConfig(_Section):
    chunk_tokens: int = Field(200, gt=8, description="Chunk length in the embedder's tokens.")
    overlap_tokens: int = Field(32, ge=0)
    min_tokens: int = Field(16, ge=1, description="Shorter chunks (after the first) are dropped.")
    heading_path: bool = Field(
        True, description="Chunks carry the headings above them (e.g. 'Guide > Install'), shown in samples and Argilla."
    )

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> ChunkingConfig:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("chunking.overlap_tokens must be smaller than chunking.chunk_tokens")
        return self


class LlamaCppOptions(_Section):
    model: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] = Field(
        "qwen2.5-coder-1.5b", description="Which packaged GGUF to use (ignored when model_path is set)."
    )
    model_path: str | None = Field(None, description="A GGUF file; default: the packaged `model`.")
    n_ctx: int = Field(2048, gt=0)
    n_threads: int | None = Field(None, gt=0)
    n_gpu_layers: int = Field(0, ge=-1, description="-1 offloads every layer to a CUDA build of llama.cpp.")
    temperature: float = Field(0.7, ge=0)
    max_new_tokens: int = Field(96, gt=0)
    parallel: int = Field(1, gt=0, le=64, description="Prompts decoded together as parallel sequences of one "
                          "context (embedtune.generation.batched); 1: one at a time through distilabel's LlamaCppLLM.")


class OpenAIOptions(_Section):
    model: str = "gpt-4o-mini"
    base_url: str | None = Field(None, description="Any OpenAI-compatible server (vLLM, Ollama, ...).")
    api_key_env: str = Field("OPENAI_API_KEY", description="Env var holding the key; never the key.")
    max_concurrency: int = Field(8, gt=0)
    max_retries: int = Field(6, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    temperature: float = Field(0.7, ge=0)
    max_new_tokens: int = Field(128, gt=0)
    price_per_1k_prompt_tokens: float = Field(0.0, ge=0)
    price_per_1k_completion_tokens: float = Field(0.0, ge=0)


class RayOptions(_Section):
    """`generation.engine: ray`: distilabel's Ray pipeline, the LLM calls spread over a Ray cluster's workers."""

    address: str | None = Field(None, description="Ray cluster address (ray://host:10001 or host:6379); "
                                "None: RAY_ADDRESS, else a local cluster started for the run.")
    replicas: int = Field(2, gt=0, description="Copies of the generation step, each with its own LLM client or model.")
    num_cpus: float | None = Field(None, gt=0, description="CPUs each replica reserves on the cluster.")
    num_gpus: float | None = Field(None, ge=0, description="GPUs each replica reserves (vllm on GPU nodes).")


class LocalModelOptions(_Section):
    """A Hugging Face causal LM run in-process: `transformers` (CPU or GPU) or `vllm` (GPU)."""

    model: str | None = Field(None, description="Local path or cached hub id of an instruct model.")
    device: str | None = Field(None, description="transformers only: 'cuda', 'cpu' or None (auto).")
    torch_dtype: str = "auto"
    chat_template: str | None = Field(None, description="Jinja chat template if the tokenizer has none.")
    tensor_parallel_size: int = Field(1, gt=0, description="vllm only: GPUs to shard the model over.")
    temperature: float = Field(0.7, ge=0)
    max_new_tokens: int = Field(96, gt=0)


class GenerationConfig(_Section):
    backend: Literal["heuristic", "llamacpp", "openai", "vllm", "transformers"] = "heuristic"
    queries_per_chunk: int = Field(2, gt=0)
    query_styles: list[Literal["question", "keyword", "claim"]] = Field(
        ["question", "keyword"], min_length=1,
        description="Styles taken in turn for the queries of a chunk; claim = a statement to find evidence for.",
    )
    corpus_description: str = "technical documentation"
    prompt_mode: Literal["per_query", "per_chunk"] = Field(
        "per_query", description="per_chunk: one prompt writes all of a chunk's queries (one prefill per chunk)."
    )
    example_queries: str | None = Field(
        None, description="File of real example queries (one per line, or JSONL with 'text' or 'query'); "
        "the first 8 are shown to the LLM. Never your evaluation queries.",
    )
    llm_hard_negative: bool = Field(False, description="Also ask the LLM for a hard-negative query.")
    max_chunks: int | None = Field(None, gt=0, description="Seeded sample of chunks to generate for.")
    seed: int = 42
    cache_dir: str | None = Field(None, description="Where finished generations are kept for resume.")
    reuse_answers: bool = Field(
        True, description="Take the answers an earlier run gave to the same prompts (same model, prompt version, "
        "settings and seed) from <cache_dir>/answers.jsonl: an edited corpus asks only for its changed chunks.",
    )
    answer_store_mb: float = Field(
        256.0, gt=0, description="Bound of <cache_dir>/answers.jsonl (~1 million answers): past it, the oldest go.",
    )
    engine: Literal["local", "ray"] = Field(
        "local", description="local: this process; ray: distilabel's Ray pipeline over `ray` below (big corpora)."
    )
    ray: RayOptions = RayOptions()
    llamacpp: LlamaCppOptions = LlamaCppOptions()
    openai: OpenAIOptions = OpenAIOptions()
    local_model: LocalModelOptions = LocalModelOptions()


class FilterConfig(_Section):
    min_query_chars: int = Field(8, ge=1)
    max_query_chars: int = Field(300, gt=0)
    min_query_words: int = Field(2, ge=1)
    max_copied_words: int = Field(10, gt=0, description="Longest word run a query may copy from its passage.")
    drop_source_mentions: bool = Field(
        True, description="Drop queries that refer to 'the passage', 'this study' and the like (LLM artefacts)."
    )
    near_duplicate_jaccard: float = Field(0.8, gt=0, le=1, description="Word-set similarity counted as duplicate.")
    round_trip_top_k: int | None = Field(
        None, gt=0, description="Keep a pair only if its chunk is in the base model's top-k for the query."
    )
    max_word_overlap: float | None = Field(
        None, gt=0, le=1, description="Drop a query when more than this share of its content words (stemmed) "
        "occur in its passage: LLM queries reuse ~0.85 of their words, real searches ~0.55-0.6. None: keep all.",
    )
    language: str = Field("english", description="Stemmer of max_word_overlap.")


class NegativesConfig(_Section):
    enabled: bool = True
    skip_top: int = Field(1, ge=0, description="Corpus ranks skipped before a negative may be taken.")
    max_rank: int = Field(30, gt=0, description="Negatives are taken from ranks up to this.")
    relative_margin: float = Field(
        0.05, ge=0, lt=1, description="Negative must score below positive * (1 - margin): false-negative guard."
    )


class TeacherConfig(_Section):
    """A stronger scorer than the student: drops false negatives and gives soft labels (MarginMSE)."""

    kind: Literal["none", "hybrid", "cross_encoder", "api"] = Field(
        "none", description="hybrid: base embedder fused with stemmed BM25; cross_encoder: `cross_encoder` below; "
        "api: the hybrid with `api_model`'s vectors instead of the base model's."
    )
    cross_encoder: str | None = Field(None, description="CrossEncoder folder (or hub name online) for kind=cross_encoder.")
    api_model: str | None = Field(None, description="API embedder for kind=api (cohere:embed-v4.0 ...); its key "
                                  "from the environment.")
    api_max_cost_usd: float | None = Field(10.0, ge=0, description="kind=api: refuse above this estimate (USD).")
    dense_model: str | None = Field(
        None, description="kind=hybrid: a local embedder (catalog name or folder) for the hybrid's dense half "
        "instead of the base model, e.g. all-mpnet-base-v2 (`make models`): a larger model distilled into the student."
    )
    fusion_weight: float | None = Field(
        None, ge=0, le=1, description="BM25 share of the hybrid; None: chosen on the synthetic validation queries."
    )
    fusion_rule: Literal["best", "one_se"] = Field(
        "best", description="Choosing fusion_weight: best NDCG@10 on the validation queries, or one_se: the "
        "smallest weight within one standard error of the best (leans less on BM25 when the queries can't tell)."
    )
    language: str = Field("english", description="BM25 stopwords and stemmer.")
    candidates: int = Field(30, gt=0, description="Dense top-k per query the teacher scores.")
    negatives_per_query: int = Field(4, gt=0, description="Teacher-labelled negatives kept per query (distillation rows).")
    false_negative_margin: float = Field(
        0.0, description="Drop a candidate the teacher scores within this of the positive (or above it)."
    )
    label_scale: float | None = Field(
        None, gt=0, description="Teacher margin -> student units; None: match the base model's margin spread."
    )
    listwise_candidates: Literal["checked", "all"] = Field(
        "checked", description="training.loss distill_kl: the passages of each query's list. checked: its "
        "teacher-checked negatives (false negatives dropped, as MarginMSE gets them); all: its first "
        "negatives_per_query mined candidates as mined, the teacher's scores marking the relevant ones (soft "
        "positives, for corpora where a query has several relevant passages). MNRL still gets checked negatives."
    )
    keep_pairs: Literal["all", "base_misses"] = Field(
        "all", description="base_misses: train only on the generated pairs where the teacher has something to "
        "teach: the base model ranks a mined candidate above the positive and the teacher ranks the positive above "
        "every candidate (real_queries are always kept)."
    )
    real_queries: str | None = Field(
        None, description="A file of your users' real search queries, no judgements (one per line, or JSONL with "
        "'query' or 'text'): each joins the training pairs, its positive the passage the teacher ranks first. "
        "Never the gold queries (evaluation.gold): they judge the model."
    )

    @model_validator(mode="after")
    def _cross_encoder_named(self) -> TeacherConfig:
        if self.kind == "cross_encoder" and not self.cross_encoder:
            raise ValueError("teacher.kind cross_encoder needs teacher.cross_encoder (a CrossEncoder folder)")
        if self.kind == "api" and not (self.api_model and ":" in self.api_model):
            raise ValueError("teacher.kind api needs teacher.api_model, an API model such as cohere:embed-v4.0")
        if self.dense_model and self.kind != "hybrid":
            raise ValueError(f"teacher.dense_model is the hybrid's dense half; teacher.kind is {self.kind}, not hybrid")
        if self.real_queries and self.kind == "none":
            raise ValueError("teacher.real_queries needs a teacher (teacher.kind hybrid, cross_encoder or api): "
                             "it picks each real query's positive")
        return self


class SplitConfig(_Section):
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 42

    @model_validator(mode="after")
    def _leaves_training_data(self) -> SplitConfig:
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError("split.validation_fraction + split.test_fraction must be below 1")
        return self


class ModelConfig(_Section):
    base_model: str = Field("all-MiniLM-L6-v2", description="Model id or local path of the base embedder.")
    max_seq_length: int = Field(256, gt=0)
    query_prompt: str = Field("", description="Prefix for queries, e.g. 'query: ' for E5 models.")
    document_prompt: str = Field("", description="Prefix for passages, e.g. 'passage: '.")
    matryoshka_dims: list[int] = [384, 256, 128, 64]
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda|mps|cuda:\d+)$", description="auto = CUDA, then Apple MPS, then CPU."
    )
    embedding_cache: bool = Field(True, description="Encode each (model, text) once across steps and runs.")
    embedding_cache_dir: str | None = Field(
        None, description="Default: $EMBEDTUNE_EMBEDDING_CACHE, else ~/.cache/embedtune/embeddings."
    )
    embedding_cache_gb: float = Field(2.0, gt=0, description="Least recently used vectors go beyond this size.")
    trust_remote_code: bool = Field(
        False, description="Run the Python code a model ships in its folder (NV-Embed-v2 and "
        "snowflake-arctic-embed-m-v2.0 need it); only for models you trust.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="dtype of the weights; auto: float32, except bfloat16 (float16 on GPUs without bf16) "
        "for models of 1B+ parameters on a CUDA GPU.",
    )

    @model_validator(mode="after")
    def _dims_positive_descending(self) -> ModelConfig:
        if not self.matryoshka_dims or any(d <= 0 for d in self.matryoshka_dims):
            raise ValueError("model.matryoshka_dims must be a non-empty list of positive integers")
        self.__dict__["matryoshka_dims"] = sorted(set(self.matryoshka_dims), reverse=True)
        return self


class TrainingConfig(_Section):
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(32, gt=1, description="Per-device batch: the in-batch negatives the loss sees.")
    mini_batch_size: int = Field(16, gt=0, description="CachedMNRL chunk size: memory, not negatives.")
    learning_rate: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    use_negatives: bool = True
    mnrl_negatives: int = Field(
        1, ge=1, le=16, description="Hard negatives per query in MNRL's rows (besides the in-batch ones): above 1, "
        "up to this many of the teacher's checked negatives (teacher.negatives_per_query), topped up with other "
        "pairs' passages.",
    )
    in_batch_guide: Literal["none", "base"] = Field(
        "none", description="mnrl: base: the frozen base model guides MNRL's negatives (GISTEmbed masking, "
        "CachedGISTEmbedLoss at MNRL's scale): a negative it scores above the query's positive, in-batch or "
        "mined, is left out of that query's softmax. For corpora where many passages answer one query, whose "
        "in-batch negatives are often relevant.",
    )
    loss: Literal["mnrl", "margin_mse", "mnrl+margin_mse", "distill_kl", "mnrl+distill_kl"] = Field(
        "mnrl", description="mnrl: in-batch negatives; margin_mse: the teacher's margins (needs teacher.kind); "
        "distill_kl: listwise, the teacher's distribution over the positive and its negatives (needs teacher.kind); "
        "mnrl+<other>: both, batches alternating.",
    )
    margin_mse_scale: float = Field(
        1.0, gt=0, description="margin_mse: student scores and teacher margins are multiplied by this before the "
        "squared error (its weight is the square). Cosine margins are ~0.1, so at 1 the distillation's gradients "
        "are tiny next to MNRL's (which scales cosines by 20); 20 puts both on MNRL's logit scale.",
    )
    distill_kl_scale: float = Field(
        20.0, gt=0, description="distill_kl: student cosines and teacher margins are multiplied by this to make the "
        "logits of both softmaxes (20: MNRL's scale, so the two losses' gradients are alike).",
    )
    evals_per_epoch: int = Field(2, ge=1, description="Validation evaluations per epoch (model selection).")
    validation_corpus_size: int = Field(1000, gt=0, description="Candidate chunks for validation retrieval.")
    seed: int = 42
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # auto: bf16 on Ampere+, fp16 older GPUs, fp32 CPU
    tf32: bool = Field(True, description="TF32 matmuls on Ampere+ GPUs (faster fp32 parts).")
    gpus: int = Field(1, ge=1, description=">1: the training step runs under accelerate on all GPUs of its machine.")
    checkpoint_dir: str | None = Field(None, description="Keep checkpoints here to resume after a crash.")
    lora: bool = Field(False, description="Train LoRA adapters instead of every weight (saved per `lora_save`).")
    lora_r: int = Field(16, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(32, gt=0, description="LoRA scaling numerator (scale = lora_alpha / lora_r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_save: Literal["merged", "adapter"] = Field(
        "merged", description="merged: full weights; adapter: only the LoRA adapter (small; its base must be loadable)."
    )
    lora_target_modules: list[str] | None = Field(
        None, description="Module names to adapt (e.g. [q_proj, v_proj]); None: every linear layer.",
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward: less memory, ~30% slower.")
    memory_check: bool = Field(True, description="Refuse before training when the estimated memory exceeds the device's.")
    progress_bar: bool | None = Field(None, description="Training progress bar; None: when stderr is a terminal.")
    merge_with_base: float = Field(
        1.0, ge=0, le=1, description="After training, each weight = this share of the tuned one + the rest of the "
        "base's (WiSE-FT); 1 keeps the tuned model.",
    )

    @model_validator(mode="after")
    def _merge_needs_whole_weights(self) -> TrainingConfig:
        if self.merge_with_base < 1 and self.lora and self.lora_save == "adapter":
            raise ValueError("training.merge_with_base < 1 needs whole weights: use training.lora_save merged")
        return self

    @model_validator(mode="after")
    def _guide_needs_mnrl(self) -> TrainingConfig:
        if self.in_batch_guide != "none" and "mnrl" not in self.loss:
            raise ValueError(f"training.in_batch_guide guides MNRL's negatives; training.loss {self.loss} has no mnrl")
        return self


class EvaluationConfig(_Section):
    bootstrap_samples: int = Field(1000, ge=100)
    batch_size: int = Field(64, gt=0)
    seed: int = 42
    gold: str | None = Field(
        None, description="Real queries with the documents that answer them (YAML/JSONL file or BEIR folder, "
        "see docs/gold-sets.md); promotion then decides on them. Never inside the corpus, never the few-shot examples.",
    )
    gold_split: str = Field("test", description="The qrels split read when `gold` is a BEIR folder.")
    gold_min_queries: int = Field(
        20, ge=1, description="Fewer mapped gold queries are reported as too small to decide: promotion uses synthetic."
    )
    long_documents: Literal["truncate", "best_chunk"] = Field(
        "truncate", description="A BEIR folder's documents (`run.py evaluate`, `run.py compare --benchmark`): truncate: each embedded whole, cut "
        "at the model's max_seq_length (BEIR's way); best_chunk: cut as the `chunking` section cuts a corpus "
        "(200 tokens of the base model's tokenizer by default), each document ranked by its best chunk (MaxP).",
    )


class PromotionConfig(_Section):
    min_ndcg_gain: float = Field(0.0, description="Tuned NDCG@10 must beat base by more than this.")
    require_significant: bool = Field(True, description="Also require the gain's 95% CI above zero.")
    stage: Literal["staging", "production"] = "staging"
    compare_with_incumbent: bool = Field(
        True, description="Also require beating the version now in `stage`, re-evaluated on the same queries."
    )
    card_examples: int = Field(
        0, ge=0, le=50, description="Held-out (query, passage) pairs quoted verbatim in the model card; 0: none "
        "(passages may be private, and the card goes wherever the model is published).",
    )


class CurationConfig(_Section):
    """Human review of the generated pairs in Argilla (optional: skipped when Argilla is not configured)."""

    enabled: bool = Field(True, description="Push/pull when Argilla is configured; false never contacts Argilla.")
    api_url: str | None = Field(None, description="Argilla URL; default: env ARGILLA_API_URL, then the ZenML secret.")
    api_key_env: str = Field("ARGILLA_API_KEY", description="Env var holding the API key; never the key itself.")
    secret_name: str | None = Field(None, description="ZenML secret with `api_url` and `api_key` (fallback).")
    dataset: str = Field("embedtune-pairs", description="Argilla dataset the pairs are pushed to.")
    workspace: str | None = Field(None, description="Argilla workspace; default: the user's first workspace.")
    include_pending: bool = Field(False, description="Train also on records nobody has reviewed yet (unreviewed).")
    min_submitted: int = Field(1, ge=1, description="Submitted responses that complete a record.")
    relevance_threshold: float = Field(
        0.3, ge=-1, le=1, description="Pre-filled answer 'relevant: yes' when the base model's score is at least this."
    )
    batch_size: int = Field(200, gt=0, le=500, description="Records per upsert request.")
    timeout_s: int = Field(60, gt=0)
    gold_dataset: str = Field("embedtune-gold", description="Argilla dataset of `curate gold push`: real queries to judge.")
    gold_candidates: int = Field(5, gt=0, le=20, description="Passages retrieved per model (base, latest tuned) per query.")


class CompareConfig(_Section):
    """`python run.py compare`: the base-model leaderboard (see embedtune/compare.py)."""

    max_queries: int | None = Field(None, gt=0, description="Seeded sample of queries (all their relevant docs kept).")
    max_corpus: int | None = Field(None, gt=0, description="Relevant passages + seeded distractors up to this many.")
    seed: int = 42
    precisions: list[Literal["float32", "int8", "binary", "binary_rescore"]] = [
        "float32", "int8", "binary", "binary_rescore"
    ]
    rule: Literal["quality", "quality_per_byte"] = Field(
        "quality", description="quality: best NDCG@10; quality_per_byte: smallest index within `tolerance` of it."
    )
    tolerance: float = Field(0.01, ge=0, le=1, description="NDCG@10 loss accepted by quality_per_byte.")
    allow_noncommercial: bool = Field(False, description="May a non-commercial-license model be picked as best?")
    max_seq_length: int | None = Field(None, gt=0, description="Cap every candidate's max length (default: its own).")
    batch_size: int = Field(32, gt=0)
    rescore_candidates: int = Field(100, gt=0, description="binary_rescore: Hamming hits re-ranked by the float query.")
    api_base_url: str | None = Field(None, description="Server for `openai-compatible:MODEL` candidates.")
    api_key_env: str = Field("EMBEDTUNE_EMBEDDINGS_API_KEY", description="Env var with its key; never the key.")
    api_batch_size: int = Field(128, gt=0, le=2048)
    api_max_retries: int = Field(6, ge=0, description="Retries with exponential backoff on 408/409/429/5xx.")
    api_timeout_s: float = Field(60.0, gt=0)
    api_dimensions: int | None = Field(None, gt=0, description="Ask API models for shorter vectors (OpenAI "
                                       "`dimensions`, Cohere/Voyage `output_dimension`, Gemini `outputDimensionality`).")
    api_max_cost_usd: float | None = Field(10.0, ge=0, description="Refuse an API model estimated above this "
                                           "(USD, from characters) before sending anything; None: no limit.")
    api_prices: dict[str, float] = Field({}, description="USD per 1M tokens by `provider:model`, over the dated "
                                         "table in embedtune/models/api/pricing.py.")


class TrackingConfig(_Section):
    """MLflow tracking, used only when the active ZenML stack has an MLflow experiment tracker."""

    experiment_name: str | None = Field(
        "embedtune", description="MLflow experiment for the runs; None: the pipeline's name."
    )
    register_model: bool = Field(True, description="Register a promoted model in MLflow's registry (alias: the stage).")
    registered_model_name: str | None = Field(None, description="Registry name; None: the ZenML model's name.")


class EmbedtuneConfig(_Section):
    ingest: IngestConfig = IngestConfig()
    chunking: ChunkingConfig = ChunkingConfig()
    generation: GenerationConfig = GenerationConfig()
    filtering: FilterConfig = FilterConfig()
    negatives: NegativesConfig = NegativesConfig()
    teacher: TeacherConfig = TeacherConfig()
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    tracking: TrackingConfig = TrackingConfig()
    compare: CompareConfig = CompareConfig()
    curation: CurationConfig = CurationConfig()

    @model_validator(mode="after")
    def _distillation_has_teacher(self) -> EmbedtuneConfig:
        if self.training.loss != "mnrl" and self.teacher.kind == "none":
            raise ValueError(f"training.loss {self.training.loss} needs teacher.kind hybrid or cross_encoder")
        return self

    @model_validator(mode="after")
    def _gold_never_reaches_generation(self) -> EmbedtuneConfig:
        # the corpus half of the check runs on the final config (after --corpus), in the pipeline and `load_gold`
        problem = gold_leak(self.evaluation, None, self.generation, self.teacher)
        if problem:
            raise ValueError(problem)
        return self


def gold_leak(evaluation: EvaluationConfig, ingest: IngestConfig | None, generation: GenerationConfig,
              teacher: TeacherConfig | None = None) -> str | None:
    """Why `evaluation.gold` would leak into generation or training (few-shot examples; the teacher's real
    queries; the corpus, unless `ingest` is None), or None."""
    if not evaluation.gold:
        return None
    import fnmatch

    gold = Path(evaluation.gold).expanduser().resolve()
    trained = "gold queries judge the model and must never be trained on; give other queries (e.g. your search log)"
    generated = "gold queries must never reach generation; give the generator other example queries"
    query_files = {  # setting -> (its file, what to do instead)
        "teacher.real_queries": (teacher.real_queries if teacher else None, trained),
        "generation.example_queries": (generation.example_queries, generated),
    }
    for setting, (name, instead) in query_files.items():
        path = Path(name).expanduser().resolve() if name else None
        if path is not None and (path == gold or gold in path.parents):
            return f"{setting} ({name}) is the gold set (evaluation.gold): {instead}"
    if ingest is not None and not ingest.corpus.startswith("hf:"):
        corpus = Path(ingest.corpus).expanduser().resolve()
        if gold == corpus or corpus in gold.parents:
            relative = gold.relative_to(corpus).as_posix() if gold != corpus else gold.name
            inside = gold.is_dir() or gold.suffix.lower() in {e.lower() for e in ingest.extensions}
            if inside and not any(fnmatch.fnmatch(relative, pattern) for pattern in ingest.exclude):
                return (
                    f"evaluation.gold ({evaluation.gold}) is inside the corpus ({ingest.corpus}): it would be chunked, "
                    "generated from and trained on; move it out (e.g. data/gold/) or add it to ingest.exclude"
                )
    return None


def describe_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{key}: {message}")
    return "; ".join(problems)


def parse_parameters(parameters: dict[str, Any] | None, source: str = "config") -> EmbedtuneConfig:
    try:
        return EmbedtuneConfig.model_validate(parameters or {})
    except ValidationError as error:
        raise EmbedtuneError(f"invalid {source}: {describe_error(error)}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise EmbedtuneError(f"config file not found: {path} (see configs/default.yaml for an example)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise EmbedtuneError(f"config {path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except OSError as error:
        raise EmbedtuneError(f"cannot read config {path}: {error.strerror or error}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise EmbedtuneError(f"malformed YAML in {path}{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise EmbedtuneError(f"malformed config {path}: the top level must be a mapping of keys")
    return raw


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) in `override` replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_run_config(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML at `path`, layered over the file its `extends:` names (relative to it), recursively."""
    path = Path(path).resolve()
    if path in _seen:
        raise EmbedtuneError(f"config {path} extends itself (through {' -> '.join(str(p) for p in _seen)})")
    raw = _read_yaml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise EmbedtuneError(f"config {path}: `extends` must be the path of another run config")
    return deep_merge(read_run_config(path.parent / parent, (*_seen, path)), raw)


def load_run_config(path: str | Path) -> tuple[EmbedtuneConfig, dict[str, Any]]:
    """Read a run-config YAML: returns (embedtune config, ZenML options for `with_options`)."""
    path = Path(path)
    raw = read_run_config(path)
    unknown = set(raw) - ZENML_OPTION_KEYS - {"parameters"}
    if unknown:
        raise EmbedtuneError(
            f"unknown top-level key(s) in {path}: {', '.join(sorted(unknown))}; embedtune settings go "
            f"under `parameters:`, ZenML options are {', '.join(sorted(ZENML_OPTION_KEYS))}"
        )
    config = parse_parameters(raw.get("parameters"), source=f"config {path}")
    options = {key: value for key, value in raw.items() if key != "parameters"}
    return config, options
