"""The LLM prompt: what every LLM backend is asked for one query, and the JSON it must answer with.

A prompt is two chat messages (`build_messages`):

1. system: `SYSTEM_TEMPLATE` — the task, the corpus description (`generation.corpus_description`),
   the rules (own words, specific, at most `MAX_QUERY_CHARS` characters) and the JSON to answer with;
2. user: the passage (its document title, then its text, cut at `max_passage_chars`), then the style
   instruction for this query (`STYLE_INSTRUCTIONS`: question, keyword or claim), plus `VARIANT_HINT`
   from the second round of styles on, so query 3 of a chunk is not a copy of query 1.

Everything shared comes first and the per-query instruction last, so llama.cpp reuses its KV cache for
the shared prefix across chunks and for the whole passage between the queries of one chunk.

`query_schema` is the answer's JSON schema; llama.cpp turns it into a grammar, so its output always
parses. The parsing of answers from backends without a grammar is in `embedtune.generation.parsing`.

`generation.prompt_mode: per_chunk` asks for all of a chunk's queries in one prompt instead
(`build_chunk_messages`, answer schema `multi_query_schema`, one JSON key per query: `question`,
`keyword`, `question_2`, ...): the passage is prefilled once and the fixed scaffolding is paid once
per chunk instead of once per query. `generation.example_queries` adds a few real queries to the
system message (`embedtune.generation.examples`). `prompt_version()` names the variant in use.

Changing a prompt changes the queries: bump `PROMPT_VERSION` / `CHUNK_PROMPT_VERSION`. It is part of every generated row and of
the key of the answer journal (`embedtune.generation.runner`), so cached answers to an old prompt are
never reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from embedtune.generation.base import DEFAULT_STYLES, style_for

PROMPT_VERSION = "llm-v1"  # one query per prompt
CHUNK_PROMPT_VERSION = "llm-v2"  # all of a chunk's queries in one prompt
FEW_SHOT_SUFFIX = "-fewshot"  # appended when example queries are in the prompt
MAX_QUERY_CHARS = 120

SYSTEM_TEMPLATE = (
    "You write search queries for a retrieval benchmark over {corpus}.\n"
    "You are shown one passage from the corpus. Write the query a real user would type into the "
    "search box of {corpus} when this passage is the answer they need.\n"
    "Rules:\n"
    "- Use your own words; never copy a phrase of more than four words from the passage.\n"
    "- Be specific to this passage (name the feature, command, or concept), not generic.\n"
    "- At most {max_chars} characters; English; no quotes around the query.\n"
    "- Answer with JSON only: {schema_hint}"
)

STYLE_INSTRUCTIONS = {
    "question": (
        "Write one natural-language question (a full sentence ending with '?') that this passage answers. "
        "Ask it the way a user who has not read the passage would: short, in your own words."
    ),
    "keyword": (
        "Write one short keyword search (3 to 6 words, no commas, no question mark, not a sentence), "
        "the way people type into a search box, for which this passage is the best result."
    ),
    "claim": (
        "Write one short factual claim (a declarative sentence, not a question) that this passage supports "
        "or contradicts, the way someone checking a statement would search for the evidence. State it in "
        "your own words, as a finding, without saying 'the study' or 'this passage'."
    ),
}

VARIANT_HINT = " This is variant {n} of this style: focus on a different detail of the passage than the main topic."

EXAMPLES_BLOCK = (
    "\nReal searches of {corpus} look like these; match their length, wording and kind, not their topics:\n"
    "{lines}"
)

CHUNK_SYSTEM_TEMPLATE = (
    "You write search queries for a retrieval benchmark over {corpus}.\n"
    "You are shown one passage from the corpus. Write the different queries real users would type into "
    "the search box of {corpus} when this passage is the answer they need.\n"
    "Rules:\n"
    "- Use your own words; never copy a phrase of more than four words from the passage.\n"
    "- Be specific to this passage (name the feature, command, finding or concept), not generic.\n"
    "- Each query at most {max_chars} characters; English; no quotes around a query.\n"
    "- Answer with JSON only, one key per query as asked.{examples}"
)

STYLE_FIELDS = {
    "question": "a natural-language question (a full sentence ending with '?') this passage answers, asked "
    "the way a user who has not read it would",
    "keyword": "a short keyword search (3 to 6 words, no commas, no question mark), the way people type "
    "into a search box",
    "claim": "a short factual claim (a declarative sentence, not a question) this passage supports or "
    "contradicts, stated as a finding in your own words, the way someone checking it would search for evidence",
}


def prompt_version(prompt_mode: str = "per_query", examples: Sequence[str] = ()) -> str:
    """The name of the prompt variant in use, stored in every generated row."""
    version = CHUNK_PROMPT_VERSION if prompt_mode == "per_chunk" else PROMPT_VERSION
    return version + (FEW_SHOT_SUFFIX if examples else "")


def _examples_block(corpus: str, examples: Sequence[str]) -> str:
    if not examples:
        return ""
    return EXAMPLES_BLOCK.format(corpus=corpus, lines="\n".join(f"- {example}" for example in examples))


def query_keys(styles: Sequence[str]) -> list[str]:
    """The JSON keys of one chunk's queries: the style, numbered from its second use.

    Example:
        >>> query_keys(["question", "keyword", "question"])
        ['question', 'keyword', 'question_2']
    """
    keys, seen = [], {}
    for style in styles:
        seen[style] = seen.get(style, 0) + 1
        keys.append(style if seen[style] == 1 else f"{style}_{seen[style]}")
    return keys


def multi_query_schema(keys: Sequence[str], hard_negative: bool = False, max_chars: int = MAX_QUERY_CHARS) -> dict[str, Any]:
    """JSON schema of a per-chunk answer: one string per key, in order (llama.cpp keeps the order)."""
    fields = [*keys, "hard_negative"] if hard_negative else list(keys)
    properties = {key: {"type": "string", "minLength": 3, "maxLength": max_chars} for key in fields}
    return {"type": "object", "properties": properties, "required": fields}


def query_schema(hard_negative: bool = False, max_chars: int = MAX_QUERY_CHARS) -> dict[str, Any]:
    """JSON schema of the answer; llama.cpp turns it into a grammar so the output always parses.

    Args:
        hard_negative: also require a `hard_negative` query (the `llm_hard_negative` setting).
        max_chars: the longest query allowed.

    Returns:
        `{"type": "object", "properties": {"query": ...[, "hard_negative": ...]}, "required": [...]}`.
    """
    properties: dict[str, Any] = {"query": {"type": "string", "minLength": 3, "maxLength": max_chars}}
    required = ["query"]
    if hard_negative:
        properties["hard_negative"] = {"type": "string", "minLength": 3, "maxLength": max_chars}
        required.append("hard_negative")
    return {"type": "object", "properties": properties, "required": required}


def build_system_prompt(corpus_description: str, hard_negative: bool = False, examples: Sequence[str] = ()) -> str:
    """The system message: task, corpus, rules and answer format; the same for every query of a run.

    Args:
        corpus_description: what the corpus is, e.g. "the ZenML MLOps docs" (blank: "technical documentation").
        hard_negative: also ask for a `hard_negative` query the passage does not answer.
        examples: real example queries, appended after the rules.
    """
    schema_hint = '{"query": "..."}'
    if hard_negative:
        schema_hint = (
            '{"query": "...", "hard_negative": "..."} where hard_negative is a query on a related topic '
            "of the same corpus that this passage does NOT answer."
        )
    corpus = corpus_description.strip() or "technical documentation"
    prompt = SYSTEM_TEMPLATE.format(corpus=corpus, max_chars=MAX_QUERY_CHARS, schema_hint=schema_hint)
    return prompt + _examples_block(corpus, examples)


def _passage(chunk: dict[str, Any], max_passage_chars: int) -> str:
    text = " ".join(str(chunk.get("text") or "").split())
    if len(text) > max_passage_chars:
        text = text[:max_passage_chars].rsplit(" ", 1)[0] + " ..."
    title = " ".join(str(chunk.get("title") or "").split())
    return (f"Document: {title}\n" if title else "") + f"Passage:\n{text}"


def build_messages(
    chunk: dict[str, Any],
    index: int,
    corpus_description: str,
    hard_negative: bool = False,
    max_passage_chars: int = 4000,
    styles: Sequence[str] = DEFAULT_STYLES,
    examples: Sequence[str] = (),
) -> list[dict[str, str]]:
    """Chat messages for query `index` of `chunk`: shared system prompt, passage, then the style.

    Args:
        chunk: a chunk dict with `text` and optionally `title`.
        index: which query of this chunk (0-based); picks the style with `style_for(index, styles)`.
        corpus_description: see `build_system_prompt`.
        hard_negative: also ask for a hard-negative query.
        max_passage_chars: the passage is cut at a word boundary beyond this, and marked with " ...".
        styles: the configured query styles (`generation.query_styles`).
        examples: real example queries for the system message (`generation.example_queries`).

    Returns:
        `[{"role": "system", ...}, {"role": "user", ...}]`, ready for any chat LLM.
    """
    style = style_for(index, styles)
    passage = _passage(chunk, max_passage_chars)
    instruction = STYLE_INSTRUCTIONS[style]
    rounds = index // len(styles)
    if rounds:
        instruction += VARIANT_HINT.format(n=rounds + 1)
    return [
        {"role": "system", "content": build_system_prompt(corpus_description, hard_negative, examples)},
        {"role": "user", "content": f"{passage}\n\n{instruction}"},
    ]


def build_chunk_messages(
    chunk: dict[str, Any],
    count: int,
    corpus_description: str,
    hard_negative: bool = False,
    max_passage_chars: int = 4000,
    styles: Sequence[str] = DEFAULT_STYLES,
    examples: Sequence[str] = (),
) -> list[dict[str, str]]:
    """Chat messages asking for all `count` queries of `chunk` at once (`prompt_mode: per_chunk`).

    The styles are taken in turn (`style_for`), each query under its own JSON key (`query_keys`); a
    style used again asks for a different detail of the passage.

    Example:
        >>> messages = build_chunk_messages({"text": "Pods share storage."}, 2, "the Kubernetes docs")
        >>> [line.split(":")[0] for line in messages[1]["content"].splitlines()[-2:]]
        ['- question', '- keyword']
    """
    corpus = corpus_description.strip() or "technical documentation"
    chosen = [style_for(index, styles) for index in range(count)]
    lines = []
    for key, style in zip(query_keys(chosen), chosen):
        again = key != style
        lines.append(f"- {key}: " + (f"another {style}, about a different detail than the first; " if again else "")
                     + STYLE_FIELDS[style])
    if hard_negative:
        lines.append("- hard_negative: a query on a related topic of the same corpus that this passage does NOT answer")
    system = CHUNK_SYSTEM_TEMPLATE.format(
        corpus=corpus, max_chars=MAX_QUERY_CHARS, examples=_examples_block(corpus, examples)
    )
    ask = f"Write {count} different search queries for which this passage is the best result, as JSON with these keys:"
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _passage(chunk, max_passage_chars) + "\n\n" + ask + "\n" + "\n".join(lines)},
    ]
