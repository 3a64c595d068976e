"""Checking a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) before any model is loaded.

`check_beir(folder, split)` reads the ids only, streaming, and turns what would otherwise surface deep
inside a pipeline step into one `EmbedtuneError` naming the file, the line and the fix:

- a corpus or queries file that is not UTF-8 text, or a line that is not a JSON object with an `_id`;
- a qrels score that is not a whole number (`1.0`, `high`): BEIR scores are integer grades.

Judgements that point at a query or document the files do not hold are ignored by the evaluation; they
are counted here and reported in one warning, so a score computed on fewer queries than the user
expects never goes unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from embedtune import EmbedtuneError, logger


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise EmbedtuneError(
                    f"{path}:{number} is not UTF-8 text (byte 0x{raw[error.start]:02x}); save the file as UTF-8"
                ) from None


def _ids(path: Path) -> set[str]:
    ids: set[str] = set()
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            ids.add(str(json.loads(line)["_id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise EmbedtuneError(f"{path}:{number} is not a JSON object with an '_id'") from None
    return ids


def check_beir(folder: str | Path, split: str) -> dict[str, int]:
    """Validate a BEIR folder for `split`; warn about judgements that point at unknown ids.

    Args:
        folder: the benchmark folder.
        split: which `qrels/<split>.tsv` to read.

    Returns:
        `{"judgements", "unknown_query", "unknown_document", "queries"}`: positive judgements read, those
        pointing at a query / document the files lack, and the queries left to score.

    Raises:
        EmbedtuneError: a missing file, text that is not UTF-8, a JSONL line without `_id`, a score that
            is not a whole number, or no usable judgement at all.
    """
    folder = Path(folder)
    paths = {name: folder / name for name in ("corpus.jsonl", "queries.jsonl")}
    paths["qrels"] = folder / "qrels" / f"{split}.tsv"
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise EmbedtuneError(f"{folder} is not a BEIR folder for split '{split}': missing {', '.join(missing)}")
    corpus, queries = _ids(paths["corpus.jsonl"]), _ids(paths["queries.jsonl"])
    counts = {"judgements": 0, "unknown_query": 0, "unknown_document": 0}
    scored: set[str] = set()
    for number, line in _lines(paths["qrels"]):
        fields = line.strip().split("\t")
        if len(fields) < 3 or (number == 1 and not fields[2].lstrip("-").isdigit()):
            continue  # header or blank line
        if not fields[2].strip().lstrip("-").isdigit():
            raise EmbedtuneError(
                f"{paths['qrels']}:{number}: score '{fields[2]}' is not a whole number; BEIR scores are integer "
                "grades (0 = not relevant, 1, 2 ...): write it without a decimal point"
            )
        if int(fields[2]) <= 0:
            continue
        counts["judgements"] += 1
        if fields[0] not in queries:
            counts["unknown_query"] += 1
        elif fields[1] not in corpus:
            counts["unknown_document"] += 1
        else:
            scored.add(fields[0])
    counts["queries"] = len(scored)
    if not scored:
        raise EmbedtuneError(f"{paths['qrels']} has no positive judgements for known queries and documents")
    if counts["unknown_query"] or counts["unknown_document"]:
        logger.warning(
            "%s: %d of %d judgements are ignored: %d name a query missing from queries.jsonl, %d a document "
            "missing from corpus.jsonl; scoring %d queries",
            paths["qrels"], counts["unknown_query"] + counts["unknown_document"], counts["judgements"],
            counts["unknown_query"], counts["unknown_document"], counts["queries"],
        )
    return counts
