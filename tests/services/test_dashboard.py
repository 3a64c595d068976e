"""The ZenML local server + dashboard, looked at in headless Chromium as a person would.

`python run.py dashboard` (zenml login --local) in a fresh ZENML_CONFIG_PATH, the tiny end-to-end pipeline run against it
with a small gold set (tests/services/tiny_pipeline.py GOLD), then the run page (step graph, the evaluation report's
HTML visualization with its chart and its gold section) and the model version (synthetic and gold metrics, and the
decision made on gold).
The open-source dashboard of ZenML 0.98 has no model-version page (its Models page is a ZenML Pro
feature), so the model version is opened through the server's REST API in the same browser session.
The headline numbers and the promotion decision are run and step metadata (shown on the run and step pages);
`promote` has an HTML view of the decision and the model card as markdown without its YAML header.
Screenshots go to outputs/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.browser import headless_chromium, wait_for_text
from tests.conftest import PROJECT_ROOT
from tests.services.tiny_pipeline import GOLD
from tests.services.zenml_env import run, run_tiny_pipeline, zenml_env, zenml_server

pytestmark = [pytest.mark.services, pytest.mark.slow]

MODEL_NAME = "embedtune-services-dashboard"
STEPS = ["load_documents", "chunk_documents", "generate_queries", "filter_pairs", "mine_negatives",
         "split_by_document", "report_data", "train_embedder", "evaluate", "promote"]
SCREENSHOTS = PROJECT_ROOT / "outputs" / "screenshots"
HEADLINE_KEYS = {"test_base_ndcg@10", "test_tuned_ndcg@10", "test_ndcg@10_gain_ci95", "test_queries_better_same_worse",
                 "test_bm25_ndcg@10", "gold_base_ndcg@10", "gold_tuned_ndcg@10", "gold_ndcg@10_gain_ci95",
                 "gold_queries", "decided_on"}
DECISION_KEYS = {"promoted", "promotion_reason", "promotion_stage"}
# The dashboard sends a fresh user through a survey first; the server records it as done this way.
SKIP_ONBOARDING = """
from zenml.client import Client
from zenml.models import UserUpdate
Client().zen_store.put("/current-user", body=UserUpdate(email_opted_in=False, full_name="embedtune CI",
    user_metadata={"finished_onboarding_survey": True, "overview_tour_done": True, "awareness_channels": ["other"]}))
"""


@pytest.fixture(scope="module")
def dashboard_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("dashboard")
    env = zenml_env(home / "zenml")
    started = time.monotonic()
    with zenml_server(env, home) as url:
        login_seconds = time.monotonic() - started
        run([sys.executable, "-c", SKIP_ONBOARDING], env, home, timeout=120)
        started = time.monotonic()
        result = run_tiny_pipeline(env, home / "work", MODEL_NAME, gold=True)
        print(f"dashboard: server {login_seconds:.0f} s, run with gold {time.monotonic() - started:.0f} s")
        yield {"url": url, "login_seconds": login_seconds, **result}


def save_screenshot(driver, name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _api(driver, url: str, expected: str) -> dict:
    driver.get(url)
    wait_for_text(driver, expected, timeout=60)
    return json.loads(_text(driver))


def _open_visualization(driver, artifact: str, html: bool = True):
    """On the run page: open `artifact`'s node, its Visualization tab, load the preview; returns its iframe
    (an HTML view, waited for), or None for a markdown view rendered in the page itself (`html=False`)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    (node,) = driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{artifact}']")
    _click(driver, node)
    WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(
        By.XPATH, "//*[normalize-space(text())='Visualization']")) >= 2)
    _click(driver, driver.find_elements(By.XPATH, "//*[normalize-space(text())='Visualization']")[-1])
    load = WebDriverWait(driver, 60).until(
        lambda d: d.find_elements(By.XPATH, "//button[normalize-space(.)='Load Preview']"))
    _click(driver, load[0])
    if html:
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.TAG_NAME, "iframe"))
    time.sleep(2)  # let the view paint before the screenshot
    frames = driver.find_elements(By.TAG_NAME, "iframe")
    return frames[0] if frames else None


def _click(driver, element) -> None:
    driver.execute_script("arguments[0].click()", element)


def _text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def test_run_page_shows_the_step_graph_and_the_evaluation_report_with_its_chart(dashboard_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert dashboard_run["status"] == "completed"
    with headless_chromium() as driver:
        driver.get(f"{dashboard_run['url']}/projects/default/runs/{dashboard_run['run_id']}")
        wait_for_text(driver, "evaluation_html", timeout=120)
        page = _text(driver)
        save_screenshot(driver, "dashboard-run")
        assert "survey" not in driver.current_url
        for name in [*STEPS, "tuned_model", "evaluation_report", "data_funnel", "pairs_sample"]:
            assert name in page, f"{name} is not in the run's step graph"

        frame = _open_visualization(driver, "evaluation_html")  # the evaluation report's HTML preview
        save_screenshot(driver, "dashboard-evaluation-report")
        driver.switch_to.frame(frame)
        WebDriverWait(driver, 30).until(lambda d: "gain over base per Matryoshka dimension" in _text(d))
        driver.execute_script("Array.from(document.querySelectorAll('h3'))"
                              ".find(h => h.textContent.startsWith('Gold queries')).scrollIntoView()")
        time.sleep(1)
        driver.switch_to.default_content()
        save_screenshot(driver, "dashboard-evaluation-report-gold")
        driver.switch_to.frame(frame)
        report_text = _text(driver)
        rows = driver.find_elements(By.CSS_SELECTOR, "svg g.row")
        zero_lines = driver.find_elements(By.CSS_SELECTOR, "svg line.zero")
        driver.switch_to.default_content()
    assert "held-out queries" in report_text and "tuned" in report_text and "base" in report_text
    assert "Promotion decides on gold (human-judged) queries" in report_text
    assert "bm25 (keywords)" in report_text and "of " in report_text and "queries." in report_text
    assert dashboard_run["run_name"] in report_text  # the run identity heads the report
    assert len(rows) >= 2 and len(zero_lines) >= 1  # a CI row per dimension (64, 32) against a zero line
    gold_section = report_text[report_text.index("Gold queries (human-judged)"):]  # beside the synthetic section
    assert "gold.yaml" in gold_section and f"{len(GOLD)} of {len(GOLD)} queries mapped" in gold_section


def test_run_and_steps_carry_the_headline_metrics_and_the_decision(dashboard_run):
    from selenium.webdriver.common.by import By

    base, run_id = dashboard_run["url"], dashboard_run["run_id"]
    with headless_chromium() as driver:
        run = _api(driver, f"{base}/api/v1/runs/{run_id}?hydrate=true", run_id)
        steps = _api(driver, f"{base}/api/v1/steps?pipeline_run_id={run_id}&size=100&hydrate=true", "items")["items"]
        driver.get(f"{base}/projects/default/runs/{run_id}")
        wait_for_text(driver, "evaluation_html", timeout=120)
        tabs = driver.find_elements(By.XPATH, "//*[normalize-space(text())='Metadata']")
        if tabs:  # the run page's metadata tab
            _click(driver, tabs[0])
            wait_for_text(driver, "test_tuned_ndcg@10", timeout=60)
            time.sleep(1)
        page = _text(driver)
        save_screenshot(driver, "dashboard-run-metadata")
    run_metadata = run["metadata"]["run_metadata"]
    assert HEADLINE_KEYS | DECISION_KEYS | {"data_funnel"} <= set(run_metadata)
    assert isinstance(run_metadata["promoted"], bool) and run_metadata["promotion_reason"].startswith(
        ("promoted", "not promoted"))
    by_step = {step["name"]: step["metadata"]["run_metadata"] for step in steps}
    assert HEADLINE_KEYS <= set(by_step["evaluate"]) and DECISION_KEYS <= set(by_step["promote"])
    assert by_step["report_data"]["data_funnel"]["documents"] == 6
    assert tabs and "test_tuned_ndcg@10" in page and "promotion_reason" in page  # shown on the run page


def test_promotion_view_and_model_card_render(dashboard_run):
    from selenium.webdriver.support.ui import WebDriverWait

    with headless_chromium() as driver:
        driver.get(f"{dashboard_run['url']}/projects/default/runs/{dashboard_run['run_id']}")
        wait_for_text(driver, "promotion_html", timeout=120)
        frame = _open_visualization(driver, "promotion_html")
        save_screenshot(driver, "dashboard-promotion")
        assert frame is not None
        driver.switch_to.frame(frame)
        WebDriverWait(driver, 30).until(lambda d: "Promotion decision" in _text(d))
        view = _text(driver)
        driver.switch_to.default_content()

        driver.get(f"{dashboard_run['url']}/projects/default/runs/{dashboard_run['run_id']}")
        wait_for_text(driver, "model_card", timeout=120)
        frame = _open_visualization(driver, "model_card", html=False)
        if frame is not None:
            driver.switch_to.frame(frame)
        WebDriverWait(driver, 30).until(lambda d: "Training data" in _text(d))
        card = _text(driver)
        save_screenshot(driver, "dashboard-model-card")
    assert ("Promoted to" in view or "Not promoted" in view) and "Decided on" in view
    assert "Evaluation" in card and "held-out" in card
    assert "library_name" not in card and "pipeline_tag" not in card  # no YAML header rendered as text


def test_model_version_holds_the_artifacts_and_metadata(dashboard_run):
    with headless_chromium() as driver:
        base = dashboard_run["url"]
        driver.get(f"{base}/api/v1/model_versions/{dashboard_run['model_version_id']}?hydrate=true")
        wait_for_text(driver, MODEL_NAME, timeout=60)
        version = json.loads(_text(driver))
        save_screenshot(driver, "dashboard-model-version")
        driver.get(f"{base}/api/v1/model_version_artifacts?model_version_id={dashboard_run['model_version_id']}"
                   "&size=100&hydrate=true")
        wait_for_text(driver, "items", timeout=60)
        links = json.loads(_text(driver))["items"]
    metadata = version["metadata"]["run_metadata"]
    assert version["body"]["model"]["name"] == MODEL_NAME
    assert {"generation", "filtering", "data_funnel", "training", "training_arguments", "hardware", "metrics",
            "gains_ci95", "base_ndcg@10", "tuned_ndcg@10", "ndcg@10_gain_ci95", "test_queries", "promoted",
            "promotion_reason"} <= set(metadata)  # the synthetic held-out queries
    assert {"gold_metrics", "gold_gains_ci95", "gold_base_ndcg@10", "gold_tuned_ndcg@10", "gold_ndcg@10_gain_ci95",
            "gold_source"} <= set(metadata)  # and the gold queries, side by side
    assert metadata["gold_queries"] == len(GOLD) and metadata["gold_unmapped"] == 0 and not metadata["gold_too_small"]
    assert metadata["decided_on"] == "gold" and metadata["decision_queries"] == f"{len(GOLD)} gold queries"
    assert f"decided on {len(GOLD)} gold queries" in metadata["promotion_reason"]
    assert metadata["generation"]["prompt_version"] and metadata["data_funnel"]["documents"] == 6
    names = {link["body"]["artifact_version"]["body"]["artifact"]["name"] for link in links}
    assert {"synthetic_pairs", "filtered_pairs", "train", "validation", "test", "tuned_model", "gold_queries",
            "evaluation_report", "evaluation_html", "data_funnel", "pairs_sample", "promotion_html", "model_card"} <= names
