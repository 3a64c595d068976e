"""Synthetic data steps: generate queries, filter them, mine hard negatives."""

import random
import time
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from embedtune import logger
from embedtune.config import FilterConfig, GenerationConfig, ModelConfig, NegativesConfig
from embedtune.generation import filters as pairs
from embedtune.generation import make_generator, negatives
from embedtune.models.embedding_cache import cache_for, use_cache
from embedtune.models.encoding import model_prompts
from embedtune.models.loading import load_base_model
from embedtune.tracking import mlflow as tracking
from embedtune.util.frames import to_records

PAIR_COLUMNS = [
    "id", "query", "positive", "positive_id", "doc_id", "llm_negative", "style", "generator", "prompt_version", "raw"
]


@step
def generate_queries(chunks: pd.DataFrame, config: GenerationConfig) -> Annotated[pd.DataFrame, "synthetic_pairs"]:
    """Ask the configured backend for `queries_per_chunk` search queries per chunk."""
    rows = to_records(chunks)
    if config.max_chunks and len(rows) > config.max_chunks:
        rows = sorted(random.Random(config.seed).sample(rows, config.max_chunks), key=lambda r: r["chunk_id"])
    generator = make_generator(config)
    if config.engine == "ray" and config.backend == "heuristic":
        logger.warning("generation.engine: ray has no effect with the heuristic backend (no LLM); it runs here")
    started = time.perf_counter()
    generated = generator.generate(rows, config.queries_per_chunk)
    minutes = (time.perf_counter() - started) / 60
    frame = pd.DataFrame(pairs.build_pairs(generated, rows), columns=PAIR_COLUMNS)
    usage = {
        "backend": config.backend,
        "engine": config.engine,  # local, or ray (distilabel's Ray pipeline; usage "mode" is then "ray")
        "generator": generator.name,
        "prompt_version": getattr(generator, "prompt_version", ""),
        "chunks": len(rows),
        "pairs": len(frame),
        "minutes": round(minutes, 3),
        "pairs_per_minute": round(len(frame) / minutes, 1) if minutes > 0 else None,
        **generator.usage(),
    }
    logger.info("generated %d queries for %d chunks (%s)", len(frame), len(rows), usage)
    log_metadata(metadata=usage, infer_artifact=True)
    tracking.log_model_metadata({"generation": usage})  # the model version tells where its data came from
    return frame


@step
def filter_pairs(
    synthetic_pairs: pd.DataFrame, chunks: pd.DataFrame, config: FilterConfig, model_config: ModelConfig
) -> Annotated[pd.DataFrame, "filtered_pairs"]:
    """Drop unusable queries; every drop is counted by reason in the artifact's metadata."""
    kept, dropped = pairs.filter_pairs(to_records(synthetic_pairs), config)
    if config.round_trip_top_k:
        model = load_base_model(model_config)
        with use_cache(cache_for(model_config)):
            kept, failures = pairs.round_trip_filter(
                kept, to_records(chunks), model, config.round_trip_top_k, *model_prompts(model)
            )
        dropped["round_trip"] += failures
    total = len(synthetic_pairs)
    log_metadata(
        metadata={
            "input_pairs": total,
            "kept_pairs": len(kept),
            "kept_fraction": round(len(kept) / total, 4) if total else 0.0,
            "dropped": dict(dropped),
        },
        infer_artifact=True,
    )
    tracking.log_model_metadata({"filtering": {"input_pairs": total, "kept_pairs": len(kept), "dropped": dict(dropped)}})
    logger.info("kept %d of %d pairs; dropped %s", len(kept), total, dict(dropped))
    return pd.DataFrame(kept, columns=PAIR_COLUMNS)


@step
def mine_negatives(
    filtered_pairs: pd.DataFrame, chunks: pd.DataFrame, config: NegativesConfig, model_config: ModelConfig
) -> Annotated[pd.DataFrame, "training_triplets"]:
    """Attach a corpus hard negative to each pair, with a false-negative guard."""
    model = load_base_model(model_config)
    with use_cache(cache_for(model_config)):
        rows, outcome = negatives.mine_negatives(
            to_records(filtered_pairs), to_records(chunks), model, config, *model_prompts(model)
        )
    log_metadata(metadata={"pairs": len(rows), "negatives": dict(outcome)}, infer_artifact=True)
    columns = PAIR_COLUMNS + ["negative", "negative_id", "positive_score", "negative_score"]
    return pd.DataFrame(rows, columns=columns)
