"""The model card of a tuned model, and publishing a model folder to a Hugging Face Hub repository.

The card (README.md in the model folder) is written by embedtune, never by sentence-transformers'
automatic card, which copies verbatim training passages into its widget and sample tables and names the
model `sentence_transformers_model_id`. `model_card(facts)` says what a reader needs to decide whether to
use the model: the base model and its license, what data it was tuned on (corpus, sizes, generator), the
base-vs-tuned results on held-out test queries with their 95% CIs, and the promotion decision. It holds
no training text unless `CardFacts.examples` is given (the user opted in: `promotion.card_examples`).

`publish(folder, repo_id, ...)` uploads exactly `upload_plan(folder)`: the model files, the card with
the usage snippet pointing at the repo (a LoRA adapter's base named by its Hub id, not a local folder),
never embedtune's export marker or hidden files. The token comes
from the environment (`HF_TOKEN`) or a ZenML secret; repositories are created private unless asked.

    >>> plan = upload_plan("outputs/tuned-model", "me/docs-embedder")
    >>> [item.path_in_repo for item in plan]   # what `run.py publish --dry-run` prints
    ['1_Pooling/config.json', 'README.md', 'config.json', 'model.safetensors', ...]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedtune import EmbedtuneError, logger

CARD_FILE = "README.md"
TOKEN_ENV = "HF_TOKEN"
SECRET_KEY = "token"  # the key inside a ZenML secret that holds the Hub token
LOCAL_REFERENCE = "path/to/this/folder"
_SKIPPED = re.compile(r"(^|/)\.")  # hidden files and folders: the export marker, .git, .cache ...
_USAGE = re.compile(r'SentenceTransformer\("[^"\n]*"\)')
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n+", re.DOTALL)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class CardFacts:
    """What a model card states. Everything is optional except the base model: a card written before
    evaluation (by the materializer) has no `report`, one written by `promote` has all of it."""

    base_model: str
    base_model_id: str | None = None  # the Hub id, when the base model is a known Hub model
    license: str | None = None
    title: str | None = None  # e.g. "embedtune version 3"
    corpus: str | None = None
    corpus_description: str | None = None
    sizes: Mapping[str, Any] = field(default_factory=dict)  # funnel counts, pairs/documents per split
    generators: Sequence[str] = ()
    matryoshka_dims: Sequence[int] = ()
    loss: str | None = None
    run_name: str | None = None
    date: str | None = None
    report: Mapping[str, Any] | None = None  # the evaluation report (test metrics, gains with CIs)
    promotion: Mapping[str, Any] | None = None  # the promote step's decision
    examples: Sequence[Mapping[str, str]] = ()  # (query, passage) pairs, only when the user opted in
    reference: str = LOCAL_REFERENCE  # what the usage snippet loads
    adapter_base: str | None = None  # saved as a LoRA adapter: the base it loads on (base_model_name_or_path)


def base_model_facts(base_model: str) -> tuple[str | None, str | None]:
    """(Hub id, license) of a base model the catalog knows (an alias resolves to its Hub id); (None, None)
    for a local folder or an unknown name."""
    from embedtune.models.catalog import lookup

    entry = lookup(base_model)
    if entry is None:
        return (base_model if _HUB_ID.match(base_model) and not Path(base_model).exists() else None), None
    return entry.name, entry.license


def examples_from(pairs: Sequence[Mapping[str, Any]], count: int) -> list[dict[str, str]]:
    """The first `count` pairs (by id, so the choice is stable) as card examples: query and passage."""
    chosen = sorted(pairs, key=lambda pair: str(pair.get("id", "")))[:count]
    return [{"query": str(pair.get("query", "")), "passage": str(pair.get("positive", ""))} for pair in chosen]


def _front_matter(facts: CardFacts) -> str:
    lines = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity"]
    if facts.license and facts.license.lower() not in ("unknown", "none"):
        lines.append(f"license: {facts.license.lower()}")
    if facts.base_model_id:
        lines.append(f"base_model: {facts.base_model_id}")
    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "embedtune"]
    if facts.matryoshka_dims:
        tags.append("matryoshka")
    lines.append("tags:")
    lines += [f"- {tag}" for tag in tags]
    lines.append("---")
    return "\n".join(lines) + "\n\n"


def _decision(promotion: Mapping[str, Any] | None) -> list[str]:
    if not promotion:
        return ["## Decision", "", "Not decided yet: the promote step writes the decision here.", ""]
    verdict = f"promoted to `{promotion['stage']}`" if promotion.get("promoted") else "**not promoted**"
    return ["## Decision", "", f"This version was {verdict}. {promotion.get('reason', '')}".rstrip(), ""]


def _results(section: Mapping[str, Any], label: str) -> list[str]:
    lines = [f"### {label}", "",
             f"{section['n_queries']} queries; all {section['n_corpus']} passages of the corpus are candidates.", "",
             "| dim | base NDCG@10 | tuned NDCG@10 | gain | 95% CI | base Recall@10 | tuned Recall@10 |",
             "|---:|---:|---:|---:|---|---:|---:|"]
    base, tuned = section["models"]["base"], section["models"]["tuned"]
    for dim in sorted(tuned, key=int, reverse=True):
        gain = section.get("gains", {}).get("tuned", {}).get(dim, {}).get("ndcg@10")
        ci = f"[{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else ""
        lines.append(
            f"| {dim} | {base.get(dim, {}).get('ndcg@10', float('nan')):.4f} | {tuned[dim]['ndcg@10']:.4f} | "
            f"{gain['gain'] if gain else float('nan'):+.4f} | {ci} | "
            f"{base.get(dim, {}).get('recall@10', float('nan')):.4f} | {tuned[dim]['recall@10']:.4f} |"
        )
    for name, baseline in section.get("baselines", {}).items():
        versus = baseline.get("tuned_gain", {}).get("ndcg@10")
        if versus:
            lines += ["", (f"Keyword baseline ({name}): NDCG@10 {baseline['metrics']['ndcg@10']:.4f}; tuned vs {name} "
                          f"{versus['gain']:+.4f} (95% CI {versus['ci_low']:+.4f} to {versus['ci_high']:+.4f}).")]
    return [*lines, ""]


def _evaluation(report: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Evaluation", ""]
    if not report:
        return [*lines, "Not evaluated yet.", ""]
    lines += [("Base vs tuned on held-out **test** queries from documents never trained on (the validation split "
              "only chose the checkpoint). Gains are paired bootstrap 95% confidence intervals over queries."), ""]
    lines += _results(report, "Held-out synthetic test queries")
    if report.get("gold"):
        gold = report["gold"]
        small = " (too small to decide)" if gold.get("too_small") else ""
        lines += _results(gold, f"Gold (human-judged) queries: {gold.get('source', '')}{small}")
    if report.get("decision_queries"):
        lines += [f"Promotion decides on: {report['decision_queries']}.", ""]
    return lines


def _data(facts: CardFacts) -> list[str]:
    lines = ["## Training data", ""]
    if facts.corpus:
        lines.append(f"- Corpus: `{facts.corpus}`" + (f" ({facts.corpus_description})" if facts.corpus_description else ""))
    for key, value in facts.sizes.items():
        if isinstance(value, Mapping):
            value = ", ".join(f"{name} {count:,}" if isinstance(count, int) else f"{name} {count}"
                              for name, count in value.items())
        elif isinstance(value, int):
            value = f"{value:,}"
        lines.append(f"- {key}: {value}")
    if facts.generators:
        lines.append(f"- Queries written by: {', '.join(f'`{g}`' for g in facts.generators)} (synthetic, filtered, "
                     "hard negatives mined with the base model); documents split whole into train/validation/test")
    lines += ["", "Training settings:", "", "```json",
              json.dumps({"loss": facts.loss or "MatryoshkaLoss(CachedMultipleNegativesRankingLoss)",
                          "matryoshka_dims": list(facts.matryoshka_dims)}), "```", ""]
    if facts.examples:
        lines += ["### Examples (included by `promotion.card_examples`)", "", "| query | passage |", "|---|---|"]
        for example in facts.examples:
            cells = [" ".join(str(example.get(k, "")).split()).replace("|", "\\|")[:300] for k in ("query", "passage")]
            lines.append(f"| {cells[0]} | {cells[1]} |")
        lines.append("")
    else:
        lines += [("No text of the corpus or of the generated queries is included in this card "
                  "(`promotion.card_examples` adds some)."), ""]
    return lines


def model_card(facts: CardFacts) -> str:
    """The card: YAML front matter (library, license, base model, tags) then markdown. See module doc."""
    title = facts.title or "Fine-tuned embedding model"
    intro = f"A sentence-transformers model fine-tuned from `{facts.base_model_id or facts.base_model}`"
    intro += f" on `{facts.corpus}`" if facts.corpus else ""
    intro += " with embedtune: an LLM wrote search queries for the corpus's passages, the model was trained to "
    intro += "retrieve each passage for its queries (hard negatives, MatryoshkaLoss)."
    identity = [f"- {label}: {value}" for label, value in (
        ("Base model", f"`{facts.base_model_id or facts.base_model}`"),
        ("Base model license", facts.license or "unknown"), ("Run", facts.run_name), ("Date", facts.date),
        ("Matryoshka dimensions", ", ".join(str(d) for d in facts.matryoshka_dims) or None),
        ("Saved as", f"a LoRA adapter on `{facts.base_model_id or facts.base_model}` (base weights not included)"
         if facts.adapter_base else None),
    ) if value]
    usage = ["## Usage", "", "```python", "from sentence_transformers import SentenceTransformer", "",
             f'model = SentenceTransformer("{facts.reference}")',
             'embeddings = model.encode(["How do I rotate the API keys?"])',
             "```", ""]
    if facts.matryoshka_dims:
        usage[-2:-2] = [f"# smaller vectors: SentenceTransformer(..., truncate_dim={min(facts.matryoshka_dims)})"]
    if facts.adapter_base:
        usage += [("This folder holds only a LoRA adapter (peft). `SentenceTransformer(path)` needs `peft` installed "
                   "and first loads the base model that `base_model_name_or_path` in adapter_config.json names "
                   f"(`{facts.adapter_base}` when this card was written), then the adapter on it; that base must "
                   "be available where the model is loaded."), ""]
    body = [f"# {title}", "", intro, "", *identity, "", *_decision(facts.promotion), *_evaluation(facts.report),
            *_data(facts), *usage, "## License", "",
            (f"The weights derive from `{facts.base_model_id or facts.base_model}` ({facts.license or 'license unknown'}); "
            "its license applies."), ""]
    return _front_matter(facts) + "\n".join(body)


def without_front_matter(card: str) -> str:
    """The card's markdown without its YAML header (the dashboard renders a header as a bullet list)."""
    return _FRONT_MATTER.sub("", card, count=1)


def for_repo(card: str, repo_id: str) -> str:
    """The card with its usage snippet loading `repo_id` instead of a local folder."""
    return _USAGE.sub(f'SentenceTransformer("{repo_id}")', card)


def write_card(folder: str | Path, card: str) -> Path:
    """Write `card` as the folder's README.md (through a temporary file, replaced in one rename)."""
    path = Path(folder) / CARD_FILE
    temporary = path.with_name(f".{CARD_FILE}.tmp")
    temporary.write_text(card, encoding="utf-8")
    os.replace(temporary, path)
    return path


# -- publishing --------------------------------------------------------------------------------------


@dataclass
class PlannedFile:
    """One file of an upload: where it goes in the repo, and the local file or the bytes to send."""

    path_in_repo: str
    local_path: Path | None
    content: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.content) if self.content is not None else self.local_path.stat().st_size


def upload_plan(folder: str | Path, repo_id: str) -> list[PlannedFile]:
    """Exactly what `publish` uploads from `folder`, sorted: every file but hidden ones (the export marker,
    .git ...), with README.md rewritten so its usage snippet loads `repo_id`. A folder that is not a
    sentence-transformers model (no modules.json) is refused."""
    root = Path(folder).expanduser()
    if not (root / "modules.json").is_file():
        raise EmbedtuneError(f"{folder} is not a sentence-transformers model folder (no modules.json); "
                             "publish a folder written by `run.py run --export-dir`")
    plan = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if _SKIPPED.search(relative):
            continue
        if relative == CARD_FILE:
            card = for_repo(path.read_text(encoding="utf-8"), repo_id)
            plan.append(PlannedFile(relative, path, card.encode("utf-8")))
        elif relative.rpartition("/")[2] == "adapter_config.json":
            plan.append(PlannedFile(relative, path, _adapter_config_for_hub(path)))
        else:
            plan.append(PlannedFile(relative, path))
    if not any(item.path_in_repo == CARD_FILE for item in plan):
        logger.warning("%s has no model card (README.md): the repository will have none", folder)
    return plan


def _adapter_config_for_hub(path: Path) -> bytes | None:
    """A LoRA adapter's config with its base named by Hub id (the recorded base's catalog or Hub name) instead
    of a folder of this machine; unchanged (None) when it already names no local folder or no Hub id is known."""
    from embedtune.models.adapters import read_record

    config = json.loads(path.read_text(encoding="utf-8"))
    reference = str(config.get("base_model_name_or_path") or "")
    if not Path(reference).is_absolute():
        return None
    record = read_record(path.parent)
    hub_id = base_model_facts(record.name)[0] if record else None
    if not hub_id:
        logger.warning("the LoRA adapter's base is %s, a folder of this machine: whoever downloads this model needs "
                       "that base (publish a model trained with training.lora_save: merged instead)", reference)
        return None
    config.update(base_model_name_or_path=hub_id, revision=None)
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")


def commit_operations(plan: Sequence[PlannedFile]) -> list[Any]:
    """The plan as huggingface_hub `CommitOperationAdd`s (no network)."""
    from huggingface_hub import CommitOperationAdd

    return [
        CommitOperationAdd(path_in_repo=item.path_in_repo,
                           path_or_fileobj=item.content if item.content is not None else str(item.local_path))
        for item in plan
    ]


def hub_token(secret_name: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The Hub token: the ZenML secret `secret_name` (its `token` key) when given, else `HF_TOKEN`."""
    environ = os.environ if environ is None else environ
    if secret_name:
        from zenml.client import Client

        try:
            values = Client().get_secret(secret_name).secret_values
        except KeyError:
            raise EmbedtuneError(f"no ZenML secret named {secret_name!r}: create it with "
                                 f"`zenml secret create {secret_name} --{SECRET_KEY}=<hub token>`") from None
        token = values.get(SECRET_KEY)
        if not token:
            raise EmbedtuneError(f"the ZenML secret {secret_name!r} has no {SECRET_KEY!r} key")
        return str(token)
    token = environ.get(TOKEN_ENV)
    if not token:
        raise EmbedtuneError(f"no Hugging Face token: set {TOKEN_ENV} or pass --secret NAME (a ZenML secret "
                             f"with a {SECRET_KEY!r} key)")
    return token


def publish(
    folder: str | Path, repo_id: str, token: str, private: bool = True, api: Any | None = None,
    commit_message: str = "Upload embedding model fine-tuned with embedtune",
) -> str:
    """Create `repo_id` (private unless `private=False`; an existing repo keeps its visibility) and upload
    `upload_plan(folder, repo_id)` in one commit. Returns the commit URL. `api`: an `HfApi` (tests pass
    a stand-in)."""
    if not _HUB_ID.match(repo_id):
        raise EmbedtuneError(f"--repo {repo_id!r} is not a Hub repository id (owner/name)")
    plan = upload_plan(folder, repo_id)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True, token=token)
    commit = api.create_commit(repo_id=repo_id, repo_type="model", operations=commit_operations(plan),
                               commit_message=commit_message, token=token)
    url = str(getattr(commit, "commit_url", commit))
    logger.info("published %d files of %s to %s", len(plan), folder, repo_id)
    return url
