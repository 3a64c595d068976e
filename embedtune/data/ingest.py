"""Load a team's documents (markdown, text, HTML, JSONL, PDF, or a Hugging Face dataset) into rows.

Each row is `{doc_id, source, title, text}`. Files that cannot be read (binary content behind a text
extension, undecodable bytes, too large, empty) are skipped with a warning and counted by reason, so
one bad file never loses the run; a corpus with nothing usable fails with a message saying why.
Markdown keeps its headings; an HTML page's `<h1>`-`<h6>` become markdown heading lines (`## Install`),
so chunking gives chunks of both the same heading paths (`embedtune.data.headings`).

Also counted in `IngestResult.skipped`, by reason: folders that cannot be listed (e.g. deeper than the
system's path limit), and single JSONL rows that are not JSON, whose text field is not a string (a
number, an object), or that hold NUL bytes; the good rows of such a file are kept. File names that are
not valid UTF-8 are decoded once, here (`display_name`: undecodable bytes as `\xe9`), so a `café.md`
saved in Latin-1 is read like any other file; lone surrogates in JSONL text are replaced likewise.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath

from embedtune import EmbedtuneError, logger
from embedtune.config import IngestConfig
from embedtune.util import remote
from embedtune.util.fingerprint import files_fingerprint

_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.DOTALL)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(\s[^<>\n]*)?/?>")
_HTML_HEADING = re.compile(r"^h[1-6]$")


@dataclass
class IngestResult:
    documents: list[dict[str, str]]
    skipped: Counter = field(default_factory=Counter)  # reason -> number of files
    files_seen: int = 0


class SkipFile(Exception):
    """A file that cannot be used; the message is the reason."""


def document_id(source: str, text: str) -> str:
    return hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()[:16]


def display_name(text: str) -> str:
    """`text` (a path from the file system, a JSONL string) as valid UTF-8: bytes a file name could not
    decode (held as surrogates by Python) become `\\xe9`-style escapes, other lone surrogates `?`."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _without_nul_rows(data: bytes, path: PurePath, counts: Counter) -> bytes:
    """JSONL: drop (and count) the lines holding NUL bytes; a file where most lines do is binary."""
    lines = data.split(b"\n")
    bad = sum(b"\x00" in line for line in lines)
    if bad * 2 > sum(bool(line.strip()) for line in lines):
        raise SkipFile("binary")
    counts["JSONL row with NUL bytes"] += bad
    logger.warning("%s: %d line(s) hold NUL bytes; skipped them, kept the rest", display_name(str(path)), bad)
    return b"\n".join(line for line in lines if b"\x00" not in line)


def _decode(data: bytes, path: PurePath) -> str:
    if b"\x00" in data[:8192]:
        raise SkipFile("binary")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 decodes anything, so only accept it when the text looks like text.
        text = data.decode("latin-1")
        printable = sum(ch.isprintable() or ch.isspace() for ch in text[:4096])
        if printable < 0.95 * min(len(text), 4096):
            raise SkipFile("binary") from None
        logger.warning("%s is not UTF-8; read it as Latin-1", display_name(str(path)))
        return text


def _markdown(text: str, path: PurePath) -> tuple[str, str]:
    text = _FRONT_MATTER.sub("", text, count=1)
    text = _HTML_TAG.sub(" ", text)  # docs sites embed HTML widgets in markdown; keep their text only
    heading = _MD_HEADING.search(text)
    return (heading.group(1).strip() if heading else path.stem.replace("-", " ")), text


def _html(text: str, path: PurePath) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "header", "noscript"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    for heading in soup.find_all(_HTML_HEADING):
        words = heading.get_text(" ", strip=True)  # `## Words` on a line of its own: chunks get heading paths
        heading.replace_with(f"\n\n{'#' * int(heading.name[1])} {words}\n\n" if words else "")
    body = (soup.body or soup).get_text("\n")
    body = re.sub(r"\n\s*\n+", "\n\n", body).strip()
    return title or path.stem, body


def _pdf(data: bytes, path: PurePath) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        text = "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except (PdfReadError, ValueError, KeyError) as error:
        raise SkipFile(f"unreadable pdf ({error.__class__.__name__})") from None
    title = (reader.metadata.title if reader.metadata else None) or path.stem
    return str(title), text


def _jsonl_rows(text: str, path: PurePath, config: IngestConfig, counts: Counter) -> Iterator[dict[str, str]]:
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            counts["JSONL row that is not JSON"] += 1
            logger.warning("%s:%d is not valid JSON; skipped", path, line_number)
            continue
        if not isinstance(record, dict):
            counts["JSONL row that is not an object"] += 1
            continue
        value = record.get(config.text_field)
        if value is not None and not isinstance(value, str):
            counts[f"JSONL row whose '{config.text_field}' is not a string"] += 1
            logger.warning("%s:%d: '%s' is a %s, not text; skipped", path, line_number, config.text_field,
                           type(value).__name__)
            continue
        if not (value or "").strip():
            continue
        yield {
            "source": f"{path}#{record.get(config.id_field, line_number)}",
            "title": str(record.get(config.title_field) or ""),
            "text": str(record[config.text_field]),
        }


def _check_size(size: int, config: IngestConfig) -> None:
    if size == 0:
        raise SkipFile("empty")
    if size > config.max_file_mb * 1024 * 1024:
        raise SkipFile(f"larger than ingest.max_file_mb={config.max_file_mb:g}")


def _read_file(path: Path, root: Path, config: IngestConfig, counts: Counter) -> list[dict[str, str]]:
    _check_size(path.stat().st_size, config)
    data = path.read_bytes()
    relative = display_name(str(path.relative_to(root)) if path != root else path.name)
    return _parse_file(data, Path(display_name(str(path))), relative, config, counts)


def _parse_file(
    data: bytes, path: PurePath, relative: str, config: IngestConfig, counts: Counter
) -> list[dict[str, str]]:
    """Rows of one file's bytes; `path` (its decoded name) gives titles and messages, `relative` the source."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        title, text = _pdf(data, path)
        return [{"source": relative, "title": title, "text": text}]
    if suffix == ".jsonl" and b"\x00" in data:
        data = _without_nul_rows(data, path, counts)
    text = _decode(data, path)
    if suffix == ".jsonl":
        rows = list(_jsonl_rows(text, Path(relative), config, counts))
        if not rows:
            raise SkipFile(f"no JSONL rows with a '{config.text_field}' field")
        return rows
    if suffix in (".html", ".htm"):
        title, text = _html(text, path)
    elif suffix in (".md", ".markdown"):
        title, text = _markdown(text, path)
    else:
        title = path.stem.replace("-", " ").replace("_", " ")
    return [{"source": relative, "title": title, "text": text}]


def _corpus_files(root: Path, config: IngestConfig, counts: Counter | None = None) -> Iterator[Path]:
    """The files a corpus is read from: supported extensions, minus `ingest.exclude` patterns; folders
    that cannot be listed are counted in `counts` (when given) and logged."""
    if root.is_file():
        yield root
        return
    for path in _walk(root, {ext.lower() for ext in config.extensions}, counts):
        relative = path.relative_to(root).as_posix()
        if not any(fnmatch.fnmatch(relative, pattern) for pattern in config.exclude):
            yield path


def _walk(root: Path, extensions: set[str], counts: Counter | None = None) -> Iterator[Path]:
    """Files under root in a stable order; follows symlinks but never loops; a folder that cannot be
    listed (no permission, deeper than the path limit) is counted as "unreadable folder"."""

    def unreadable(error: OSError) -> None:
        if counts is not None:
            counts["unreadable folder"] += 1
            logger.warning("skipped folder %s: %s", display_name(str(error.filename)), error.strerror or error)

    seen_dirs: set[tuple[int, int]] = set()
    for directory, subdirs, files in os.walk(root, followlinks=True, onerror=unreadable):
        try:
            stat = os.stat(directory)
        except OSError as error:
            unreadable(error)
            subdirs[:] = []
            continue
        if (stat.st_dev, stat.st_ino) in seen_dirs:
            subdirs[:] = []
            continue
        seen_dirs.add((stat.st_dev, stat.st_ino))
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(directory) / name
            if path.suffix.lower() in extensions and not name.startswith("."):
                yield path


def _load_hf_dataset(spec: str, config: IngestConfig) -> list[dict[str, str]]:
    from datasets import load_dataset, load_from_disk

    name, _, split = spec[len("hf:") :].partition(":")
    try:
        dataset = load_from_disk(name) if Path(name).exists() else load_dataset(name, split=split or "train")
    except Exception as error:  # noqa: BLE001 - datasets raises many types; the message is what matters
        raise EmbedtuneError(f"cannot load Hugging Face dataset '{name}': {error}") from None
    if hasattr(dataset, "keys") and not hasattr(dataset, "column_names"):
        dataset = dataset[split or "train"]
    if config.text_field not in dataset.column_names:
        raise EmbedtuneError(
            f"dataset '{name}' has no column '{config.text_field}' (columns: {dataset.column_names}); "
            "set ingest.text_field"
        )
    rows = []
    for index, record in enumerate(dataset):
        text = str(record.get(config.text_field) or "")
        if text.strip():
            source = f"{name}#{record.get(config.id_field, index)}"
            rows.append({"source": source, "title": str(record.get(config.title_field) or ""), "text": text})
    return rows


def corpus_fingerprint(config: IngestConfig) -> str:
    """Hash of the corpus files' paths, sizes and modification times: changes when a document does,
    so ZenML's cache (which does not read files) re-ingests edited corpora and reuses unchanged ones."""
    if config.corpus.startswith("hf:") or remote.is_remote(config.corpus):
        return config.corpus  # read only inside the step: the CLI turns load_documents' cache off for a URI
    root = Path(config.corpus).expanduser()
    if not root.exists():
        return "missing"
    return files_fingerprint(_corpus_files(root, config))


def _raw_rows(config: IngestConfig, result: IngestResult) -> Iterator[dict[str, str]]:
    """Rows straight from the files (or dataset), lazily; skipped files are counted in `result`."""
    if config.corpus.startswith("hf:"):
        result.files_seen = 1
        yield from _load_hf_dataset(config.corpus, config)
        return
    if remote.is_remote(config.corpus):
        yield from _remote_rows(config, result)
        return
    root = Path(config.corpus).expanduser()
    if not root.exists():
        raise EmbedtuneError(f"corpus not found: {root} (point --corpus at a folder or file of documents)")
    for path in _corpus_files(root, config, result.skipped):
        result.files_seen += 1
        try:
            for row in _read_file(path, root if root.is_dir() else path, config, result.skipped):
                yield {key: display_name(value) for key, value in row.items()}
        except SkipFile as reason:
            result.skipped[str(reason)] += 1
            logger.warning("skipped %s: %s", display_name(str(path)), reason)
        except OSError as error:
            result.skipped["unreadable"] += 1
            logger.warning("skipped %s: cannot read (%s)", display_name(str(path)), error.strerror or error)


def _remote_rows(config: IngestConfig, result: IngestResult) -> Iterator[dict[str, str]]:
    """Rows of the files under a remote URI (`s3://bucket/prefix`, `gs://...`, `az://...`, `hf://...`): the
    same formats, exclusions, size limit and skip counts as a local folder; listing or access failures are
    one `EmbedtuneError` line (`embedtune.util.remote`)."""
    fs, root = remote.filesystem(config.corpus)
    for item in remote.list_files(fs, root, config.corpus, config.extensions):
        if any(fnmatch.fnmatch(item.relative, pattern) for pattern in config.exclude):
            continue
        result.files_seen += 1
        try:
            _check_size(item.size, config)
            data = remote.read_bytes(fs, item.path, config.corpus)
            for row in _parse_file(data, PurePosixPath(item.path), item.relative, config, result.skipped):
                yield {key: display_name(value) for key, value in row.items()}
        except SkipFile as reason:
            result.skipped[str(reason)] += 1
            logger.warning("skipped %s: %s", item.relative, reason)


def _nothing_usable(config: IngestConfig, result: IngestResult) -> EmbedtuneError:
    details = ", ".join(f"{n} {reason}" for reason, n in result.skipped.items()) or "no matching files"
    return EmbedtuneError(
        f"no usable documents in {config.corpus} ({result.files_seen} files seen; {details}); "
        f"supported extensions: {' '.join(config.extensions)}"
    )


def check_corpus(config: IngestConfig) -> None:
    """Fail fast, before a pipeline starts, when not a single usable document exists (stops at the first)."""
    if config.corpus.startswith("hf:") or remote.is_remote(config.corpus):
        return  # read inside the load_documents step, never on the submitting machine
    root = Path(config.corpus).expanduser()
    if root.is_dir() and not any(path.is_file() for path in root.rglob("*")):
        raise EmbedtuneError(f"corpus folder {root} is empty; add documents ({' '.join(config.extensions)})")
    result = IngestResult(documents=[])
    if not any(row["text"].strip() for row in _raw_rows(config, result)):
        raise _nothing_usable(config, result)


def load_documents(config: IngestConfig) -> IngestResult:
    """Read every supported document under `config.corpus`; dedupe identical texts."""
    result = IngestResult(documents=[])
    seen_texts: set[str] = set()
    for row in _raw_rows(config, result):
        text = row["text"].strip()
        if not text:
            result.skipped["empty"] += 1
            continue
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest in seen_texts:
            result.skipped["duplicate"] += 1
            continue
        seen_texts.add(digest)
        result.documents.append({"doc_id": document_id(row["source"], text), **row, "text": text})
    if config.sample_documents and len(result.documents) > config.sample_documents:
        result.documents = random.Random(config.seed).sample(result.documents, config.sample_documents)
        result.documents.sort(key=lambda row: row["source"])
    if not result.documents:
        raise _nothing_usable(config, result)
    logger.info("loaded %d documents from %d files", len(result.documents), result.files_seen)
    return result
