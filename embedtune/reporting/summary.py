"""What a training run says before it starts (how long it will take) and after it ends (what was decided,
which Matryoshka dimensions gained significantly, what to try next, what was exported).

Plain functions on plain data, no ZenML: `commands.support` gathers the inputs and prints the lines.

- `count_chunks(documents, tokenizer, chunking)`: the chunk count up front (a seeded sample of a large corpus;
  `sample_chunks` gives the sample itself).
- `estimate_run(...)` -> `RunEstimate`, and `.describe()`: one line, logged once at the start of `run`.
- `measured_speed(records, generation)`: this machine's own pairs/min from an earlier run, when there is one.
- `end_summary(report, promotion, ...)`: the closing lines after the headline numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedtune.config import ChunkingConfig, EmbedtuneConfig, GenerationConfig

# Usable generated pairs per minute until this machine has measured its own (then `measured_speed` wins).
# llama.cpp figures: benchmarks/README.md, 2 CPU cores. The 1.5B: `make run` at 3bddafe wrote 496 queries in
# about 24 min (20.7/min, a training job beside it; 23-25/min on a quiet machine). The 0.5B: 2.23x the 1.5B
# measured side by side. The other backends were not measured here: rough guesses, and the line says so.
DEFAULT_PAIRS_PER_MINUTE: dict[str, tuple[float, str]] = {
    "llamacpp:qwen2.5-coder-1.5b": (21.0, "measured with the bundled 1.5B GGUF on 2 CPU cores (benchmarks/README.md)"),
    "llamacpp:qwen2.5-coder-0.5b": (45.0, "2.2x the 1.5B's rate on 2 CPU cores (benchmarks/README.md)"),
    "llamacpp": (21.0, "the bundled 1.5B GGUF's rate on 2 CPU cores (benchmarks/README.md); yours may differ"),
    "heuristic": (20000.0, "template queries, no model"),
    "openai": (200.0, "a rough guess for an API with 8 parallel requests; not measured"),
    "vllm": (300.0, "a rough guess for a GPU server; not measured"),
    "transformers": (10.0, "a rough guess for a small local model on CPU; not measured"),
}
# `generation.llamacpp.parallel` > 1: the 1.5B default's rate with 8 prompts decoded together over one at a time.
# Two side-by-side runs (same chunks): 1.39x (23.20 vs 16.75, "Batched decoding") and 1.26x (31.69 vs 25.21,
# results/generation-2026-12-02-queries-per-chunk); `make run` measured 25.8/min where 1.39 promised 29.2.
PARALLEL_SPEEDUP = 1.26
# Training pairs per second, validation included: `make run` on 2 CPU cores (478 pair-epochs in 178 s);
# on a GPU the finetune pipeline ran at 28-180 pairs/s (benchmarks/README.md), 100 is a middle figure.
TRAINING_PAIRS_PER_SECOND = {"cpu": 2.7, "gpu": 100.0}
KEPT_FRACTION = 0.93  # pairs the filters keep (92-96% in every measured run)
# Loading, chunking, negative mining, evaluation and promotion: what the measured runs took beyond generation
# and training (benchmarks/README.md, 2 CPU cores): ~26 s for the guide's 213 chunks, ~80 s for 832 chunks.
FIXED_SECONDS = 20.0
SECONDS_PER_CHUNK = 0.025  # per encoding pass over the chunks on CPU: 1 for `generate`, 3 for `run`


def sample_chunks(
    documents: Sequence[Mapping[str, Any]], tokenizer: Any, chunking: ChunkingConfig, sample: int = 200, seed: int = 0
) -> tuple[list[dict[str, Any]], float]:
    """The chunks `chunk_documents` cuts from `documents` (up to `sample` documents) or from a seeded sample of
    `sample` of them, and the factor that scales their number to the whole corpus (its characters over the
    sample's; 1.0 when nothing was sampled)."""
    from embedtune.data.chunking import chunk_documents

    documents = list(documents)
    if len(documents) <= sample:
        return chunk_documents(documents, tokenizer, chunking), 1.0
    chosen = random.Random(seed).sample(documents, sample)
    chosen_chars = sum(len(document["text"]) for document in chosen) or 1
    total_chars = sum(len(document["text"]) for document in documents)
    return chunk_documents(chosen, tokenizer, chunking), total_chars / chosen_chars


def count_chunks(
    documents: Sequence[Mapping[str, Any]], tokenizer: Any, chunking: ChunkingConfig, sample: int = 200, seed: int = 0
) -> int:
    """How many chunks `chunk_documents` will cut from `documents`: exact up to `sample` documents; beyond,
    the chunks of a seeded sample of `sample` documents scaled by the corpus's characters (within a few %)."""
    chunks, scale = sample_chunks(documents, tokenizer, chunking, sample, seed)
    return round(len(chunks) * scale)


def generator_key(generation: GenerationConfig) -> str:
    """The generator a config asks for, as `DEFAULT_PAIRS_PER_MINUTE` names it (llamacpp with its model)."""
    if generation.backend == "llamacpp":
        if generation.llamacpp.model_path:
            return f"llamacpp:{Path(generation.llamacpp.model_path).stem.lower()}"
        return f"llamacpp:{generation.llamacpp.model}"
    if generation.backend == "openai":
        return f"openai:{generation.openai.model}"
    return generation.backend


def measured_speed(records: Iterable[Mapping[str, Any]], generation: GenerationConfig) -> float | None:
    """Pairs/min of the newest earlier generation on this machine with the same generator, from the metadata
    the `generate_queries` step logs (newest first in `records`); None when there is none worth trusting
    (other backend, model, prompt mode or llama.cpp `parallel`, fewer than 5 chunks, or answers resumed from a
    journal or reused from the answer store, which inflate the rate)."""
    key = generator_key(generation)
    model = key.split(":", 1)[1] if ":" in key else ""
    for record in records:
        rate = record.get("pairs_per_minute")
        if record.get("backend") != generation.backend or not isinstance(rate, (int, float)) or rate <= 0:
            continue
        if model and model not in str(record.get("generator", "")).lower():
            continue
        if record.get("prompt_mode", generation.prompt_mode) != generation.prompt_mode:
            continue
        if generation.backend == "llamacpp" and int(record.get("parallel") or 1) != generation.llamacpp.parallel:
            continue
        if int(record.get("chunks") or 0) < 5 or int(record.get("resumed_answers") or 0) > 0 \
                or int(record.get("reused_answers") or 0) > 0:
            continue
        return float(rate)
    return None


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return "under 1 min"
    if minutes < 90:
        return f"~{math.ceil(minutes)} min"
    return f"~{minutes / 60:.1f} h"


@dataclass(frozen=True)
class RunEstimate:
    """How long a run should take if no step is reused from the cache, and from what."""

    chunks: int
    generated_chunks: int
    queries: int
    pairs_per_minute: float
    speed_source: str
    generation_seconds: float
    training_seconds: float
    answered_share: float
    other_seconds: float
    trains: bool

    @property
    def total_seconds(self) -> float:
        return self.generation_seconds + self.training_seconds + self.other_seconds

    def describe(self) -> str:
        """One line: the total, then its parts and where the generation speed comes from."""
        sampled = f" (a seeded {self.generated_chunks} of {self.chunks} chunks)" if self.generated_chunks < self.chunks \
            else f" for {self.chunks} chunks"
        parts = [
            (f"query generation {_minutes(self.generation_seconds)}: {self.queries} queries{sampled} at "
            f"~{self.pairs_per_minute:g} pairs/min, {self.speed_source}"
            + (f"; {self.answered_share:.0%} of the prompts already answered in the answer store"
               if self.answered_share else "")),
        ]
        if self.trains:
            parts.append(f"training {_minutes(self.training_seconds)}")
        parts.append(f"the other steps {_minutes(self.other_seconds)}")
        return (
            f"Estimated run time: {_minutes(self.total_seconds)} ({'; '.join(parts)}). Steps unchanged since an "
            "earlier run are reused from the cache and take seconds."
        )


def estimate_run(
    chunks: int, config: EmbedtuneConfig, measured_pairs_per_minute: float | None = None, gpu: bool = False,
    trains: bool = True, answered_share: float = 0.0,
) -> RunEstimate:
    """The run's duration from its chunk count and the generation speed: this machine's own measurement
    when given (`measured_speed`), else the `DEFAULT_PAIRS_PER_MINUTE` figure for the configured generator.

    Args:
        chunks: chunks the corpus gives (`count_chunks`); `generation.max_chunks` caps the ones generated for.
        config: the run's config (generation, split, training).
        measured_pairs_per_minute: an earlier generation's rate with the same generator on this machine.
        gpu: training runs on a GPU.
        trains: the pipeline trains and evaluates (`run`), or stops after the pairs (`generate`).
        answered_share: the share of the prompts the answer store already answers (`QueryGenerator.stored_share`):
            they are not asked again, so they take no generation time.
    """
    generation = config.generation
    generated = min(chunks, generation.max_chunks) if generation.max_chunks else chunks
    queries = generated * generation.queries_per_chunk
    if measured_pairs_per_minute:
        rate, source = measured_pairs_per_minute, "this machine's speed in an earlier run"
    else:
        key = generator_key(generation)
        rate, source = DEFAULT_PAIRS_PER_MINUTE.get(key) or DEFAULT_PAIRS_PER_MINUTE[generation.backend]
        if generation.backend == "llamacpp" and generation.llamacpp.parallel > 1:
            rate, source = rate * PARALLEL_SPEEDUP, f"{source}, x{PARALLEL_SPEEDUP} for parallel decoding"
    train_fraction = 1 - config.split.validation_fraction - config.split.test_fraction
    train_pairs = queries * KEPT_FRACTION * train_fraction
    training = train_pairs * config.training.epochs / TRAINING_PAIRS_PER_SECOND["gpu" if gpu else "cpu"]
    other = FIXED_SECONDS + chunks * SECONDS_PER_CHUNK * (3 if trains else 1)
    return RunEstimate(
        chunks=chunks, generated_chunks=generated, queries=queries, pairs_per_minute=round(rate, 1),
        speed_source=source, generation_seconds=queries * (1 - answered_share) / rate * 60,
        training_seconds=training if trains else 0.0, answered_share=answered_share, other_seconds=other, trains=trains,
    )


# ---------------------------------------------------------------------------------------------------
# The end of a run
# ---------------------------------------------------------------------------------------------------


def dims_by_outcome(section: Mapping[str, Any], model: str = "tuned", metric: str = "ndcg@10") -> dict[str, list[int]]:
    """The Matryoshka dimensions of `section` (a report or its gold part) by the gain's 95% CI: `better` (above
    zero), `worse` (below zero), `unclear` (crossing it), each largest first."""
    outcome: dict[str, list[int]] = {"better": [], "worse": [], "unclear": []}
    for dim, gains in sorted(section.get("gains", {}).get(model, {}).items(), key=lambda item: -int(item[0])):
        gain = gains.get(metric)
        if gain is None:
            continue
        key = "better" if gain["ci_low"] > 0 else "worse" if gain["ci_high"] < 0 else "unclear"
        outcome[key].append(int(dim))
    return outcome


def _dims(dims: Sequence[int]) -> str:
    return ", ".join(str(dim) for dim in dims) if dims else "none"


def significance_line(section: Mapping[str, Any], queries: str) -> str:
    """Which dimensions gained significantly on `queries` (words for the deciding queries)."""
    outcome = dims_by_outcome(section)
    line = (
        f"Significant NDCG@10 gains on {queries} (95% CI above zero), by Matryoshka dimension: "
        f"{_dims(outcome['better'])}; not significant: {_dims(outcome['unclear'])}"
    )
    return line + (f"; significant losses: {_dims(outcome['worse'])}" if outcome["worse"] else "")


def next_steps(
    report: Mapping[str, Any], promotion: Mapping[str, Any], config: EmbedtuneConfig | None = None
) -> list[str]:
    """What to try when the model was not promoted, most likely to help first; empty when it was promoted.

    Reads why from the numbers of the deciding queries (gold when they decided, else synthetic) and the
    promotion record (`steps.evaluation.promote`: promoted, reason, decided_on, incumbent, incumbent_stage)."""
    from embedtune.evaluation.promotion import MIN_QUERIES_FOR_CI, decision_basis

    if promotion.get("promoted"):
        return []
    basis, section, _ = decision_basis(report)
    dim = str(max((int(d) for d in section["gains"]["tuned"]), default=0))
    gain = section["gains"]["tuned"][dim]["ndcg@10"]
    reason = str(promotion.get("reason", ""))
    steps: list[str] = []
    if promotion.get("incumbent") and ("but not the current" in reason or "gain over the current" in reason):
        steps.append(
            f"It beats the base model but not version {promotion['incumbent']}, which keeps the "
            f"{promotion.get('incumbent_stage') or 'stage'}: nothing to fix. To do better than that version: more "
            "documents, more queries per chunk (generation.queries_per_chunk) or a teacher (teacher.kind: hybrid)."
        )
        return steps
    queries = int(section.get("n_queries") or 0)
    if queries < MIN_QUERIES_FOR_CI:
        steps.append(f"Only {queries} deciding query: add documents or raise split.test_fraction, or add a gold set.")
    outcome = dims_by_outcome(section)
    smaller = [d for d in outcome["better"] if d < int(dim)]
    if gain["gain"] > 0:
        if smaller:
            steps.append(
                f"The {_dims(smaller)}-dim gains are significant: the tuned model truncated to {smaller[0]} dims "
                f"(SentenceTransformer(path, truncate_dim={smaller[0]})) may serve you better than the base at full size."
            )
        if basis == "gold":
            steps.append(
                f"The gain is positive but its CI crosses zero on {queries} gold queries: more gold questions narrow it "
                "(docs/gold-sets.md)."
            )
        else:
            steps.append(
                "No gold set decided: a gold set of 50+ real questions (evaluation.gold, docs/gold-sets.md) judges "
                "more reliably than synthetic queries."
            )
        more = "more documents, or more queries per chunk (generation.queries_per_chunk)"
        if config is not None and config.generation.max_chunks:
            more = f"generation.max_chunks above {config.generation.max_chunks}, " + more
        epochs = f" or training.epochs: {config.training.epochs + 1:g}" if config is not None else ""
        steps.append(f"More training data: {more}{epochs}.")
    else:
        steps.append(
            "The tuned model is no better than the base: read a sample of the generated queries "
            "(`run.py samples`); if they do not read like your users' searches, set generation.corpus_description "
            "(one line about your documents) or generation.example_queries (real queries)."
        )
        steps.append("A teacher often helps: teacher.kind: hybrid with training.loss: mnrl+margin_mse (docs/teacher.md).")
        steps.append("Check the base model is the right start: `run.py compare` ranks candidates on your data.")
    return steps


def end_summary(
    report: Mapping[str, Any],
    promotion: Mapping[str, Any],
    model_uri: str,
    exported: Path | str | None = None,
    config: EmbedtuneConfig | None = None,
) -> list[str]:
    """The closing lines of a training run, after the metric tables and the headline: the decision, which
    dimensions gained significantly on the deciding queries, what to try next when not promoted, and where
    the model is (saying that an exported model was not promoted, when it was not)."""
    from embedtune.evaluation.promotion import decision_basis

    _, section, queries = decision_basis(report)
    promoted = bool(promotion.get("promoted"))
    stage = promotion.get("stage") or (config.promotion.stage if config is not None else "staging")
    decision = f"promoted to {stage}" if promoted else "NOT promoted (the reason is above)"
    lines = [f"Decision: {decision}.", significance_line(section, queries.split(" (")[0])]
    steps = next_steps(report, promotion, config)
    if steps:
        lines.append("What to try next:")
        lines += [f"  - {step}" for step in steps]
    lines.append(f"Tuned model (artifact, a SentenceTransformer directory): {model_uri}")
    if exported is not None:
        note = "" if promoted else " (not promoted: it did not pass the gate; compare before you serve it)"
        lines.append(f"Tuned model exported to: {exported}{note}")
    return lines
