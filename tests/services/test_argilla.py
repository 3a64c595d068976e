"""Curation against a real Argilla 2.8 server (the project's launcher, on loopback), through the CLI as a user runs
it: push the generated pairs, review them as an annotator through the SDK, pull them back and train; the UI in
headless Chromium; and what happens when Argilla is down or not configured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from zenml.client import Client
from zenml.enums import ExecutionStatus

from embedtune.curation.records import GUIDELINES
from embedtune.util.frames import to_records
from pipelines.latest import latest_run_outputs
from tests.conftest import PROJECT_ROOT, TOPICS, write_corpus
from tests.services.argilla_server import OWNER, WORKSPACE, free_port, start_server, stop_server
from tests.services.zenml_env import tiny_run_config

pytestmark = [pytest.mark.services, pytest.mark.slow]

DATASET = "embedtune-test-pairs"
CORRECTED = "which containers share storage in a pod"
OUTPUTS: list[str] = []  # every CLI output of this module, checked for keys at the end


@pytest.fixture(scope="session")
def argilla(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("argilla-home"))
    print(f"\nArgilla server up in {server.startup_s:.1f} s at {server.url}")
    try:
        yield server
    finally:
        stop_server(server)


def argilla_env(server=None, url=None, key=None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
    env["ZENML_LOGGING_VERBOSITY"] = "INFO"  # what a user sees: step warnings included
    if server is not None:
        env.update(ARGILLA_API_URL=server.url, ARGILLA_API_KEY=server.api_key)
    if url is not None:
        env.update(ARGILLA_API_URL=url, ARGILLA_API_KEY=key or "")
    return env


def run_cli(*args, env, timeout=600):
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    OUTPUTS.append(result.stdout + result.stderr)
    if os.environ.get("EMBEDTUNE_DUMP_CLI"):
        with open(os.environ["EMBEDTUNE_DUMP_CLI"], "a", encoding="utf-8") as dump:
            dump.write(f"\n===== {' '.join(args)} -> {result.returncode}\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def write_config(folder: Path, corpus: Path, model_dir: str, dataset: str = DATASET) -> Path:
    return tiny_run_config(folder, model_dir, "embedtune-argilla-test", corpus=corpus, enable_cache=True,
                           extra={"curation": {"dataset": dataset, "batch_size": 16}})


def last_run(pipeline_name: str):
    return Client().list_pipeline_runs(pipeline_name=pipeline_name, sort_by="desc:created", size=1).items[0]


def output(run, step: str, name: str):
    value = Client().get_pipeline_run(run.id).steps[step].outputs[name]
    return value[0] if isinstance(value, list) else value


def sdk(server, api_key=None):
    import argilla as rg

    return rg.Argilla(api_url=server.url, api_key=api_key or server.api_key)


@pytest.fixture(scope="module")
def pushed(argilla, zenml_repository, tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("curation")
    config = write_config(folder, write_corpus(folder / "corpus"), tiny_model_dir)
    started = time.perf_counter()
    result = run_cli("curate", "push", "--config", str(config), env=argilla_env(argilla))
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]
    triplets = output(last_run("embedtune_generate_data"), "mine_negatives", "training_triplets").load()
    summary = output(last_run("embedtune_generate_data"), "push_to_argilla", "argilla_push").load()
    print(
        f"\ncurate push of {len(triplets)} pairs: {seconds:.1f} s (CLI), upserts {summary['records_per_second']} "
        "records/s"
    )
    return {"config": config, "folder": folder, "triplets": triplets, "result": result, "summary": summary}


def test_curate_push_creates_one_record_per_pair_keyed_by_pair_id(argilla, pushed):
    triplets, summary = pushed["triplets"], pushed["summary"]
    assert summary["status"] == "pushed" and summary["created"] == len(triplets) and summary["updated"] == 0
    assert f"Pushed {len(triplets)} pairs to Argilla dataset '{DATASET}'" in pushed["result"].stdout
    dataset = sdk(argilla).datasets(DATASET, workspace=WORKSPACE)
    records = list(dataset.records(with_suggestions=True, with_vectors=True))
    assert sorted(record.id for record in records) == sorted(triplets["id"])
    first = next(record for record in records if record.id == triplets["id"].iloc[0])
    row = triplets.iloc[0]
    assert first.fields["query"] == row["query"] and first.fields["positive"] == row["positive"]
    assert first.metadata["chunk_id"] == row["positive_id"] and first.metadata["generator"] == row["generator"]
    assert first.metadata["positive_score"] == pytest.approx(row["positive_score"], abs=1e-6)
    assert first.metadata["source"].endswith(".md") and first.metadata["query_tokens"] > 0
    assert len(first.vectors["query_embedding"]) == 64
    assert {s.question_name for s in first.suggestions} >= {"relevant"}
    settings = dataset.settings
    assert [f.name for f in settings.fields] == ["query", "positive", "negative"]
    assert [q.name for q in settings.questions] == ["relevant", "negative_irrelevant", "corrected_query"]
    assert settings.guidelines.strip() == GUIDELINES.strip()


def plan_reviews(triplets):
    """Which pair gets which decision; deterministic from the sorted ids."""
    rows = to_records(triplets.sort_values("id"))
    negative_rejected = next(r["id"] for r in rows if r["negative"])
    rest = [r["id"] for r in rows if r["id"] != negative_rejected]
    return {
        "rejected": rest[0],
        "discarded": rest[1],
        "corrected": rest[2],
        "negative_rejected": negative_rejected,
        "pending": set(rest[3:5]),
        "accepted": set(rest[5:]),
    }


@pytest.fixture(scope="module")
def reviewed(argilla, pushed):
    """An annotator finds their pending records (the UI's search endpoint) and answers them through the SDK."""
    from argilla._models import UserResponseModel

    annotator_key = argilla.add_user("annotator1")
    annotator = sdk(argilla, annotator_key)
    me = annotator.me
    dataset = annotator.datasets(DATASET, workspace=WORKSPACE)
    body = {
        "filters": {
            "and": [{"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]}]
        }
    }
    found = annotator.http_client.post(
        f"/api/v1/me/datasets/{dataset.id}/records/search", params={"limit": 1000}, json=body
    )
    found.raise_for_status()
    record_ids = {item["record"]["external_id"]: item["record"]["id"] for item in found.json()["items"]}
    assert set(record_ids) == set(pushed["triplets"]["id"]), "the annotator sees every pushed record as pending"
    plan = plan_reviews(pushed["triplets"])
    answers = {
        plan["rejected"]: ("submitted", {"relevant": "no"}),
        plan["discarded"]: ("discarded", {}),
        plan["corrected"]: ("submitted", {"relevant": "yes", "corrected_query": CORRECTED}),
        plan["negative_rejected"]: ("submitted", {"relevant": "yes", "negative_irrelevant": "no"}),
    }
    answers.update(
        {pair_id: ("submitted", {"relevant": "yes", "negative_irrelevant": "yes"}) for pair_id in plan["accepted"]}
    )
    for pair_id, (status, values) in answers.items():
        annotator.api.records.create_record_response(
            record_ids[pair_id],
            UserResponseModel(
                values={question: {"value": value} for question, value in values.items()}, status=status, user_id=me.id
            ),
        )
    return {"plan": plan, "annotator_key": annotator_key}


@pytest.fixture(scope="module")
def curated(argilla, pushed, reviewed):
    started = time.perf_counter()
    result = run_cli("finetune", "--curated", "--config", str(pushed["config"]), env=argilla_env(argilla))
    print(f"\nfinetune --curated: {time.perf_counter() - started:.1f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    return last_run("embedtune_finetune_curated")


def test_finetune_curated_trains_on_exactly_the_accepted_rows(pushed, reviewed, curated):
    plan, triplets = reviewed["plan"], to_records(pushed["triplets"])
    expected = []
    for row in sorted(triplets, key=lambda r: r["id"]):
        if row["id"] in plan["accepted"]:
            expected.append((row["id"], row["query"], row["negative"]))
        elif row["id"] == plan["corrected"]:
            expected.append((row["id"], CORRECTED, row["negative"]))
        elif row["id"] == plan["negative_rejected"]:
            expected.append((row["id"], row["query"], None))
    artifact = output(curated, "pull_from_argilla", "curated_pairs")
    rows = to_records(artifact.load())
    assert sorted((r["id"], r["query"], r["negative"]) for r in rows) == expected
    assert {r["review_status"] for r in rows} == {"accepted"} and {r["annotators"] for r in rows} == {"annotator1"}
    decisions = artifact.run_metadata["decisions"]
    assert decisions["accepted"] == len(expected) and decisions["rejected"] == 1 and decisions["discarded"] == 1
    assert decisions["pending_excluded"] == 2 and decisions["corrected_queries"] == 1
    assert decisions["negatives_rejected"] == 1
    split_sizes = sum(
        len(output(curated, "split_by_document", name).load()) for name in ("train", "validation", "test")
    )
    assert split_sizes == len(expected), "training used the curated pairs, not the generated ones"
    assert Client().get_pipeline_run(curated.id).status == ExecutionStatus.COMPLETED


def test_curate_status_shows_submitted_pending_and_discarded(argilla, pushed, reviewed, curated):
    result = run_cli("curate", "status", "--config", str(pushed["config"]), env=argilla_env(argilla))
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"{WORKSPACE}/{DATASET} *"))
    records, completed, pending, submitted, discarded, draft = (int(x) for x in line.split()[2:])
    n = len(pushed["triplets"])
    assert (records, completed, pending, submitted, discarded, draft) == (n, n - 3, 3, n - 3, 1, 0)


def test_re_push_is_idempotent_and_one_new_pair_adds_one_record(argilla, pushed, reviewed, curated, tiny_model_dir):
    from embedtune.config import parse_parameters
    from embedtune.curation import review as argilla_client

    n = len(pushed["triplets"])
    result = run_cli("curate", "push", "--latest", "--config", str(pushed["config"]), env=argilla_env(argilla))
    assert result.returncode == 0, result.stderr[-3000:]
    expected = f"Pushed {n} pairs to Argilla dataset '{DATASET}' (0 new, {n} updated"
    assert expected in result.stdout, result.stdout[-1500:]
    dataset = sdk(argilla).datasets(DATASET, workspace=WORKSPACE)
    assert dataset.progress()["total"] == n
    assert dataset.progress()["completed"] == n - 3, "reviews survive a re-push"

    config = parse_parameters(yaml.safe_load(pushed["config"].read_text())["parameters"])
    pairs = to_records(pushed["triplets"])
    new_pair = {**pairs[0], "id": "new-pair-0001", "query": "what does a deployment keep running"}
    chunks = to_records(output(last_run("embedtune_generate_data"), "chunk_documents", "chunks").load())
    os.environ.update(ARGILLA_API_URL=argilla.url, ARGILLA_API_KEY=argilla.api_key)
    try:
        summary = argilla_client.push_pairs([*pairs, new_pair], chunks, config.curation, config.model)
    finally:
        os.environ.pop("ARGILLA_API_URL"), os.environ.pop("ARGILLA_API_KEY")
    assert (summary["created"], summary["updated"]) == (1, n)
    assert dataset.progress()["total"] == n + 1


def test_argilla_ui_shows_the_dataset_records_after_sign_in(argilla, pushed, reviewed):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser import headless_chromium, save_screenshot, wait_for_text

    plan, triplets = reviewed["plan"], pushed["triplets"]
    not_submitted = plan["pending"] | {plan["discarded"]}  # what the owner's "Pending" queue shows
    pending_queries = set(triplets[triplets["id"].isin(not_submitted)]["query"])
    with headless_chromium() as driver:
        driver.get(f"{argilla.url}/sign-in")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=Username]"))
        driver.find_element(By.CSS_SELECTOR, "input[name=Username]").send_keys(OWNER)
        driver.find_element(By.CSS_SELECTOR, "input[name=Password]").send_keys(argilla.password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for_text(driver, DATASET)
        save_screenshot(driver, "argilla-home")
        driver.find_element(By.XPATH, f"//*[normalize-space(text())='{DATASET}']").click()
        try:
            wait_for_text(driver, "Is the passage relevant to the query?")
            WebDriverWait(driver, 60).until(
                lambda d: any(q in d.find_element(By.TAG_NAME, "body").text for q in pending_queries)
            )
        finally:
            body = driver.find_element(By.TAG_NAME, "body").text
            path = save_screenshot(driver, "argilla-dataset-records")
    assert "Passage (the query was written for it)" in body and "Corrected query" in body
    assert path.stat().st_size > 10_000


def test_no_api_key_in_cli_output_or_zenml_store(argilla, reviewed, curated):
    keys = [argilla.api_key, reviewed["annotator_key"]]
    assert OUTPUTS and not any(key in text for text in OUTPUTS for key in keys)
    store = Path(os.environ["ZENML_CONFIG_PATH"])
    for path in store.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            data = path.read_bytes()
            assert not any(key.encode() in data for key in keys), f"API key found in {path}"


def test_generate_without_argilla_configured_skips_the_push_and_says_so(pushed):
    result = run_cli("generate", "--config", str(pushed["config"]), env=argilla_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Argilla is not configured" in result.stdout + result.stderr
    summary = output(last_run("embedtune_generate_data"), "push_to_argilla", "argilla_push").load()
    assert summary["status"] == "skipped"


def test_with_argilla_down_push_and_pull_fail_clearly_and_the_pairs_stay_in_zenml(pushed, tiny_model_dir, tmp_path):
    corpus = write_corpus(tmp_path / "corpus", {k: TOPICS[k] for k in ("baking", "chess", "finance")})
    config = write_config(tmp_path, corpus, tiny_model_dir)
    down = argilla_env(url=f"http://127.0.0.1:{free_port()}", key="not-a-real-key")
    result = run_cli("curate", "push", "--config", str(config), env=down)
    assert result.returncode == 2, result.stderr[-3000:]  # (ZenML itself logs the failed step's traceback)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "unreachable" in errors[0] and "training_triplets" in errors[0], errors
    run = last_run("embedtune_generate_data")
    assert run.status == ExecutionStatus.FAILED
    kept = output(run, "mine_negatives", "training_triplets")
    assert len(kept.load()) > 0 and kept.id == latest_run_outputs("training_triplets")[0].id  # what finetune reads
    pulled = run_cli("finetune", "--curated", "--config", str(config), env=down)
    assert pulled.returncode == 2, pulled.stderr[-3000:]
    assert "unreachable" in next(line for line in pulled.stderr.splitlines() if line.startswith("error: "))
