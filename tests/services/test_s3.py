"""A real S3-compatible server on loopback (moto in server mode, with IAM authentication on) registered as a
ZenML S3 artifact store: `run.py run --corpus s3://...` runs the tiny end-to-end pipeline with the corpus read
from the bucket inside `load_documents` and every artifact written to the bucket; the tuned model loads from
the bucket; a missing bucket and wrong credentials are one clear error line, and the secret key is printed and
stored nowhere.

The same run once more in client-server mode, as every cloud deployment runs (issue #21): the client logged in
to a local ZenML server (`run.py dashboard`, zenml login --local) whose active stack's artifact store is the
bucket; the server itself never gets the key.

Credentials come only from the documented environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION, AWS_ENDPOINT_URL); the artifact store's registration holds the endpoint, never a key.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_corpus
from tests.services.zenml_env import api, free_port, run, run_cli, serving, tiny_run_config, zenml_env, zenml_server

pytestmark = [pytest.mark.services, pytest.mark.slow]

BUCKET = "embedtune-ci"
MODEL_NAME = "embedtune-services-s3"
REGION = "us-east-1"
ARTIFACT_NAMES = ["documents", "chunks", "synthetic_pairs", "filtered_pairs", "training_triplets", "tuned_model",
                  "evaluation_report"]
# moto checks credentials after this many requests: enough to create the CI user and its key unauthenticated.
UNAUTHENTICATED_REQUESTS = 3
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
REGISTER_STACK = """
import sys
from zenml.client import Client
from zenml.enums import StackComponentType as T
client = Client()
print(client.active_stack_model.id)  # the default stack
client.create_stack_component("ci_s3", "s3", T.ARTIFACT_STORE,
                              {"path": sys.argv[1], "client_kwargs": {"endpoint_url": sys.argv[2]}})
stack = client.create_stack("ci_s3_stack", components={T.ORCHESTRATOR: "default", T.ARTIFACT_STORE: "ci_s3"})
client.activate_stack(stack.id)
print(stack.id)
"""


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """moto's S3-compatible server on 127.0.0.1, authentication enforced after the CI user exists."""
    folder = tmp_path_factory.mktemp("s3-server")
    port = free_port()
    env = {**zenml_env(folder / "unused"), "INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED_REQUESTS)}
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with serving(command, folder, "/moto-api/", timeout=120, port=port, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def aws_env(s3_server) -> dict[str, str]:
    """The documented variables, with a key pair the server knows (an IAM user allowed everything)."""
    import boto3

    iam = boto3.client("iam", endpoint_url=s3_server, region_name=REGION, aws_access_key_id="bootstrap",
                       aws_secret_access_key="bootstrap")
    iam.create_user(UserName="embedtune-ci")
    key = iam.create_access_key(UserName="embedtune-ci")["AccessKey"]
    iam.put_user_policy(UserName="embedtune-ci", PolicyName="all", PolicyDocument=ALLOW_ALL)
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": s3_server}


def s3_client(aws_env: dict[str, str]):
    import boto3

    return boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name=REGION,
                        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"])


def bucket_keys(aws_env: dict[str, str], prefix: str = "") -> dict[str, int]:
    pages = s3_client(aws_env).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


def run_script(text: str, args: list[str], env: dict[str, str], home: Path) -> list[str]:
    """A Python script run from a file in `home` (ZenML takes the main module's folder as the source root, which
    `python -c` has not); its output lines."""
    script = home / "script.py"
    script.write_text(text, encoding="utf-8")
    return run([sys.executable, str(script), *args], env, home, timeout=300).strip().splitlines()


@pytest.fixture(scope="module")
def bucket(aws_env, tmp_path_factory) -> Path:
    """The bucket with the corpus under corpus/, and the tiny run config (tiny model, no cache); returns the
    config's path."""
    from tests.services.tiny_pipeline import tiny_model

    home = tmp_path_factory.mktemp("s3-setup")
    client = s3_client(aws_env)
    client.create_bucket(Bucket=BUCKET)
    corpus = write_corpus(home / "corpus")
    for path in sorted(corpus.iterdir()):
        client.upload_file(str(path), BUCKET, f"corpus/{path.name}")
    return tiny_run_config(home, tiny_model(home / "model"), MODEL_NAME)


def run_on_bucket_stack(env: dict[str, str], home: Path, aws_env: dict[str, str], prefix: str, config: Path,
                        *extra: str) -> dict:
    """Register a stack whose artifact store is s3://BUCKET/`prefix` (in `env`'s store: local or a server),
    then `run.py run --corpus s3://BUCKET/corpus` on it; asserts it succeeded."""
    env = {**env, **aws_env}
    default_stack, stack_id = run_script(REGISTER_STACK, [f"s3://{BUCKET}/{prefix}", aws_env["AWS_ENDPOINT_URL"]],
                                         env, home)[-2:]
    env["ZENML_ACTIVE_STACK_ID"] = stack_id
    started = time.monotonic()
    result = run_cli(["run", "--config", str(config), "--corpus", f"s3://{BUCKET}/corpus", *extra], env, home)
    seconds = time.monotonic() - started
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return {"home": home, "env": env, "config": config, "result": result, "seconds": seconds,
            "default_stack": default_stack}


@pytest.fixture(scope="module")
def s3_run(aws_env, bucket, tmp_path_factory):
    """A local ZenML store with a stack whose artifact store is s3://bucket/zenml, then
    `run.py run --corpus s3://bucket/corpus` on it."""
    home = tmp_path_factory.mktemp("s3-zenml")
    return run_on_bucket_stack(zenml_env(home / "zenml"), home, aws_env, "zenml", bucket,
                               "--export-dir", str(home / "exported"))


@pytest.fixture(scope="module")
def server_s3_run(aws_env, bucket, tmp_path_factory):
    """The client logged in to a local ZenML server (started without the AWS variables), a stack registered on
    the server whose artifact store is s3://bucket/zenml-server, then `run.py run --corpus s3://bucket/corpus`;
    with the server's record of the run (REST API), read before the server stops."""
    home = tmp_path_factory.mktemp("s3-zenml-server")
    env = zenml_env(home / "zenml")
    started = time.monotonic()
    with zenml_server(env, home) as url:
        server_seconds = time.monotonic() - started
        outcome = run_on_bucket_stack(env, home, aws_env, "zenml-server", bucket)
        name = re.search(r"Pipeline run: (\S+) \(", outcome["result"].stdout)[1]
        runs = api(url, f"runs?name={name}")["items"]
        steps = api(url, f"steps?pipeline_run_id={runs[0]['id']}&size=100")["items"] if runs else []
    print(f"s3 + ZenML server: server {server_seconds:.0f} s, run {outcome['seconds']:.0f} s")
    return {**outcome, "url": url, "run_name": name, "runs": runs, "steps": steps}


def test_the_pipeline_reads_the_corpus_from_the_bucket_and_writes_every_artifact_there(s3_run, aws_env):
    keys = bucket_keys(aws_env, "zenml/")
    for name in ARTIFACT_NAMES:
        assert any(f"/{name}/" in key for key in keys), f"no '{name}' artifact in the bucket: {sorted(keys)[:20]}"
    tuned = [key for key in keys if "/tuned_model/" in key]
    assert any(key.endswith("model.safetensors") and keys[key] > 10_000 for key in tuned)
    assert any(key.endswith("modules.json") for key in tuned)
    output = s3_run["result"].stdout
    assert re.search(rf"Tuned model \(artifact, a SentenceTransformer directory\): s3://{BUCKET}/zenml/", output)
    assert "Pipeline run:" in output and "(completed)" in output
    print(f"s3 end-to-end run: {s3_run['seconds']:.0f} s, {len(keys)} objects in the bucket")


def test_the_documents_came_from_the_s3_prefix_inside_the_step(s3_run):
    script = ("import json\nfrom zenml.client import Client\na = Client().get_artifact_version('documents')\n"
              "print(json.dumps({'uri': a.uri, 'meta': a.run_metadata, 'n': len(a.load())}, default=str))\n")
    info = json.loads(run_script(script, [], s3_run["env"], s3_run["home"])[-1])
    assert info["uri"].startswith(f"s3://{BUCKET}/zenml/")
    assert info["meta"]["corpus"] == f"s3://{BUCKET}/corpus" and info["meta"]["files_seen"] == 6 and info["n"] == 6


def test_the_tuned_model_loads_from_the_bucket(s3_run, aws_env, monkeypatch):
    from sentence_transformers import SentenceTransformer

    from embedtune.util import remote

    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(remote, "_stack_filesystem", lambda uri: None)  # fsspec's own S3, from the variables
    uri = re.search(r"Tuned model \(artifact, a SentenceTransformer directory\): (\S+)", s3_run["result"].stdout)[1]
    model = SentenceTransformer(remote.download_directory(uri), device="cpu")
    assert model.encode(["how do pods run containers?"]).shape == (1, 64)
    exported = Path(s3_run["home"] / "exported" / "model.safetensors").read_bytes()
    assert (Path(remote.download_directory(uri)) / "model.safetensors").read_bytes() == exported


def test_the_secret_key_is_printed_and_stored_nowhere(s3_run, aws_env):
    secret = aws_env["AWS_SECRET_ACCESS_KEY"]
    result = s3_run["result"]
    assert secret not in result.stdout + result.stderr
    scanned = 0
    for folder in (s3_run["home"], s3_run["config"].parent):  # the run's ZenML store and outputs, its setup
        for path in Path(folder).rglob("*"):
            if path.is_file():
                scanned += 1
                assert secret.encode() not in path.read_bytes(), path
    client = s3_client(aws_env)
    small = [key for key, size in bucket_keys(aws_env).items() if size < 5_000_000]
    for key in small:
        assert secret.encode() not in client.get_object(Bucket=BUCKET, Key=key)["Body"].read(), key
    assert scanned > 10 and len(small) > 20


@pytest.mark.parametrize("case", ["missing bucket", "wrong secret"])
def test_a_missing_bucket_or_wrong_credentials_is_one_clear_error_without_the_secret(case, s3_run, aws_env,
                                                                                     monkeypatch):
    """Inside the step's function, against the real server: the message names the URI and the fix."""
    from embedtune import EmbedtuneError
    from embedtune.config import IngestConfig
    from embedtune.data import ingest
    from embedtune.util import remote

    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(remote, "_stack_filesystem", lambda uri: None)  # fsspec's own S3, from the variables
    corpus = f"s3://{BUCKET}/corpus"
    if case == "missing bucket":
        corpus, expected = "s3://no-such-bucket/docs", "cannot list s3://no-such-bucket/docs: not found"
    else:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + aws_env["AWS_SECRET_ACCESS_KEY"])
        expected = f"cannot list {corpus}: access denied, the credentials are wrong"
    with pytest.raises(EmbedtuneError) as raised:
        ingest.load_documents(IngestConfig(corpus=corpus))
    message = str(raised.value)
    assert expected in message and "\n" not in message
    assert ("AWS_SECRET_ACCESS_KEY" in message) == (case == "wrong secret")  # the variable to fix, never its value
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in message


def test_run_with_a_wrong_secret_key_is_one_error_line_and_prints_no_secret(s3_run, aws_env):
    """`run.py run --corpus s3://...` on the local stack (the bucket store could not be written either)."""
    env = {**s3_run["env"], "ZENML_ACTIVE_STACK_ID": s3_run["default_stack"],
           "AWS_SECRET_ACCESS_KEY": "wrong-" + aws_env["AWS_SECRET_ACCESS_KEY"]}
    corpus = f"s3://{BUCKET}/corpus"
    result = run_cli(["run", "--config", str(s3_run["config"]), "--corpus", corpus], env, s3_run["home"])
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"cannot list {corpus}: access denied" in errors[0], output[-3000:]
    assert "Traceback" not in output and aws_env["AWS_SECRET_ACCESS_KEY"] not in output


def test_through_a_zenml_server_the_run_completes_with_its_artifacts_in_the_bucket(server_s3_run, aws_env,
                                                                                   monkeypatch):
    from sentence_transformers import SentenceTransformer

    from embedtune.util import remote

    output = server_s3_run["result"].stdout
    keys = bucket_keys(aws_env, "zenml-server/")
    for name in ARTIFACT_NAMES:
        assert any(f"/{name}/" in key for key in keys), f"no '{name}' artifact in the bucket: {sorted(keys)[:20]}"
    uri = re.search(r"Tuned model \(artifact, a SentenceTransformer directory\): (\S+)", output)[1]
    assert uri.startswith(f"s3://{BUCKET}/zenml-server/")
    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(remote, "_stack_filesystem", lambda uri: None)  # fsspec's own S3, from the variables
    model = SentenceTransformer(remote.download_directory(uri), device="cpu")
    assert model.encode(["how do pods run containers?"]).shape == (1, 64)
    (run,) = server_s3_run["runs"]  # the server's own record of the run
    assert run["name"] == server_s3_run["run_name"] and run["body"]["status"] == "completed"
    statuses = {step["name"]: step["body"]["status"] for step in server_s3_run["steps"]}
    assert statuses and set(statuses.values()) == {"completed"} and "train_embedder" in statuses
    secret = aws_env["AWS_SECRET_ACCESS_KEY"]
    assert secret not in output + server_s3_run["result"].stderr
    for path in Path(server_s3_run["home"], "zenml").rglob("*"):  # the server's database and logs included
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
