"""The command line's surface, in-process (no pipeline runs): help on every option, no accepted-and-ignored
flags, `--verbose` anywhere, `--version`, the `embedtune` console script, `samples` like the other commands."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import zenml  # noqa: F401 - before any output capture: ZenML keeps the stdout it finds at import for its logs
from click.testing import CliRunner

from commands import cli, main
from tests.conftest import PROJECT_ROOT


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    for name, subcommand in getattr(command, "commands", {}).items():
        yield from walk(subcommand, (*path, name))


@pytest.fixture(autouse=True)
def no_pipeline_work(monkeypatch):
    """Every command here must stop before the ZenML store is opened: a flag accepted by mistake would
    otherwise start a real pipeline (minutes of query generation) inside the unit tests."""
    from commands import support

    def refuse() -> None:
        raise AssertionError("the command got as far as opening the ZenML store")

    monkeypatch.setattr(support, "ensure_zenml_store", refuse)


ALL_COMMANDS = [(" ".join(path) or "(group)", command) for path, command in walk(cli)]


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name, command", ALL_COMMANDS, ids=[name for name, _ in ALL_COMMANDS])
def test_every_command_and_option_has_help(name, command):
    assert (command.help or "").strip(), f"`{name}` has no help text"
    context = click.Context(command, info_name=name)
    missing = [p.opts[0] for p in command.get_params(context) if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert missing == [], f"`{name}`: options without help: {missing}"


def test_the_walk_covers_every_command():
    names = {name for name, _ in ALL_COMMANDS}
    assert {"run", "generate", "finetune", "samples", "evaluate", "compare", "curate push", "curate gold pull",
            "stack setup", "dashboard", "schedule"} <= names


@pytest.mark.parametrize("args, option", [
    (["generate", "--export-dir", "outputs/x"], "--export-dir"),  # generate makes no model
    (["finetune", "--corpus", "docs"], "--corpus"),  # finetune trains on the latest generated pairs
    (["samples", "--n", "5"], "--n"),  # samples takes --count / -n like a count elsewhere
])
def test_flags_that_would_be_ignored_are_refused_as_unknown(args, option):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and re.search(rf"No such option:? '?{option}\b", result.output), result.output


@pytest.mark.parametrize("args, message", [
    (["schedule", "--cron", "0 3 * * 1", "--pipeline", "finetune", "--corpus", "docs"],
     "--corpus has no effect with --pipeline finetune"),
    (["curate", "push", "--latest", "--corpus", "docs"], "--corpus has no effect with --latest"),
])
def test_a_flag_that_another_flag_makes_useless_is_refused(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output


def test_the_training_commands_take_what_they_use():
    def options(name: str) -> set[str]:
        return {opt for p in cli.commands[name].params for opt in p.opts if isinstance(p, click.Option)}

    assert {"--config", "--corpus", "--no-cache", "--export-dir"} <= options("run")
    assert {"--config", "--corpus", "--no-cache"} <= options("generate") and "--export-dir" not in options("generate")
    assert {"--config", "--no-cache", "--export-dir", "--curated"} <= options("finetune")
    assert "--corpus" not in options("finetune")


def test_samples_takes_config_count_and_an_optional_output_like_the_other_commands():
    params = {p.name: p for p in cli.commands["samples"].params}
    assert params["config_path"].opts == ["--config"]
    assert params["config_path"].default == cli.commands["run"].params[0].default  # configs/default.yaml
    assert set(params["count"].opts) == {"-n", "--count"} and params["count"].default == 20
    assert params["output"].required is False and "outputs/<run>/samples.md" in params["output"].help


def test_samples_reads_the_model_name_of_its_config(tmp_path, monkeypatch):
    from commands import support

    config = tmp_path / "config.yaml"
    config.write_text("model:\n  name: my-docs-model\nparameters: {}\n", encoding="utf-8")
    seen = {}
    monkeypatch.setattr(support, "ensure_zenml_store", lambda: None)
    monkeypatch.setattr(support, "write_samples",
                        lambda count, seed, output, command, model_name: seen.update(locals()) or Path("x.md"))
    result = invoke("samples", "--config", str(config), "-n", "5")
    assert result.exit_code == 0 and "wrote x.md" in result.output
    assert seen["model_name"] == "my-docs-model" and seen["count"] == 5 and seen["output"] is None
    assert support.zenml_model_name(str(PROJECT_ROOT / "configs" / "default.yaml")) == "embedtune"


@pytest.mark.parametrize("args", [["--verbose", "stack", "--help"], ["stack", "--verbose", "--help"],
                                  ["stack", "show", "--verbose", "--help"], ["run", "--verbose", "--help"],
                                  ["curate", "gold", "pull", "--verbose", "--help"]])
def test_verbose_is_accepted_before_or_after_the_command(args):
    assert invoke(*args).exit_code == 0


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["run.py", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code, capsys.readouterr().err


def test_verbose_after_the_command_shows_the_traceback_of_a_user_error(monkeypatch, capsys, tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    export = str(tmp_path / "file" / "model")  # refused before any work: a file stands where a folder must go
    code, err = _main(monkeypatch, capsys, "run", "--export-dir", export)
    assert code == 2 and "error: " in err and "Traceback" not in err
    code, err = _main(monkeypatch, capsys, "run", "--export-dir", export, "--verbose")
    assert code == 2 and "error: " in err and "Traceback" in err


def test_a_removed_flag_through_main_is_clicks_usage_error(monkeypatch, capsys):
    code, err = _main(monkeypatch, capsys, "generate", "--export-dir", "outputs/x")
    assert code == 2 and re.search(r"No such option:? '?--export-dir", err) and "Traceback" not in err


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0 and result.output == f"embedtune {version('embedtune')}\n"


def test_the_embedtune_console_script_is_declared_and_runs_the_cli():
    import shutil
    import subprocess

    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = pyproject.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^embedtune = "commands:main"', scripts, flags=re.MULTILINE), scripts
    script = shutil.which("embedtune", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the console script is installed by `pip install -e .` (make install)")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.startswith("embedtune ")


def test_importing_the_cli_sets_the_offline_defaults(monkeypatch):
    """`embedtune` starts at `commands`, not run.py: the package itself must set the offline defaults."""
    import subprocess

    environment = {key: value for key, value in __import__("os").environ.items()
                   if key not in ("HF_HUB_OFFLINE", "OMP_WAIT_POLICY")}
    code = "import commands, os; print(os.environ['HF_HUB_OFFLINE'], os.environ['OMP_WAIT_POLICY'])"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=environment, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.stdout.split() == ["1", "PASSIVE"], result.stderr[-2000:]


def test_known_harmless_messages_are_silenced_and_nothing_else(caplog):
    import logging
    import warnings

    from commands import silence_known_noise

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_noise()
        warnings.warn("The 'default' attribute with value None was provided to the `Field()` function, which has "
                      "no effect in the context it was used.", UserWarning, stacklevel=1)
        warnings.warn("another warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another warning"]
    with caplog.at_level(logging.INFO, logger="sentence_transformers"):
        logging.getLogger("sentence_transformers.base.model").info("No device provided, using cpu")
        logging.getLogger("sentence_transformers.base.model").info("Loading SentenceTransformer model from x")
    assert "No device provided" not in caplog.text and "Loading SentenceTransformer model from x" in caplog.text


def test_importing_distilabels_llms_after_silencing_warns_nothing():
    """The real source: distilabel 1.5.3's LLM classes under pydantic 2.12 (imported by the generation step)."""
    import subprocess

    code = "import commands; commands.silence_known_noise(); import distilabel.models.llms"
    result = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_compare_offers_exactly_the_precisions_the_library_knows():
    """commands.compare keeps its own tuple so `--help` does not import numpy; it must not drift."""
    from commands import compare
    from embedtune.evaluation.quantization import PRECISIONS

    assert compare.PRECISIONS == PRECISIONS
