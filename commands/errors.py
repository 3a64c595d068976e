"""The one place where a failed command becomes what the user reads.

- `user_facing_message(error)`: the one-line message for a problem the user can fix, found anywhere
  in the exception chain (an `EmbedtuneError` raised inside a ZenML step included), or for a known
  mistake that surfaces as a library's exception (a ZenML lookup of an artifact no run has made
  yet; the ZenML server going away mid-command, recognised by requests' connection error on a request
  to the store's URL), or for a stop by SIGTERM / SIGINT. None for anything else (a bug).
- `install_signal_handlers()`: SIGTERM (what `kill`, systemd, Kubernetes and CI send) and SIGINT
  raise `Interrupted`, a KeyboardInterrupt whose text names the signal: ZenML's step signal handler
  calls it after marking the step, so its "Failed to run step" line carries a reason, and the run
  stops within seconds as on Ctrl-C.
- `run_cli(cli, verbose)`: runs the click group; a user error is one `error: ...` line and exit 2,
  a stop by signal one line and exit 128 + signal number (130 for SIGINT, 143 for SIGTERM), and a
  bug a plain traceback (never with local variables) and exit 1. Every line is passed through
  `redact_url` first, and every log record of the run too (`install_log_redaction`). `--verbose` adds the traceback to user errors and stops too.
"""

from __future__ import annotations

import re
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from urllib.parse import urlsplit

import click

from embedtune import EmbedtuneError
from embedtune.util.errors import error_chain, failed_request
from embedtune.util.redact import install_log_redaction, redact_url

# `zenml login --local` without --port (what `make dashboard` runs) serves here.
ZENML_DEFAULT_PORT = 8237

# ZenML's Client lookups: `KeyError: "No artifact_versions found for name, ID or prefix training_triplets."`
_NO_ARTIFACT = re.compile(r"No artifact_versions found for name, ID or prefix '?([\w.-]+?)'?\.?$")


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; `signum` says which."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}" + (" (Ctrl-C)" if signum == signal.SIGINT else ""))
        self.signum = signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """Make SIGTERM and SIGINT raise `Interrupted` in the main thread (no-op elsewhere)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(signum, _raise_interrupted)
        except ValueError:  # not the main thread
            return


def zenml_server_url() -> str | None:
    """The URL of the ZenML server the client is connected to (`zenml login`, ZENML_STORE_URL), None for a
    local (SQL) store or when ZenML is not loaded."""
    if "zenml" not in sys.modules:
        return None
    from zenml.config.global_config import GlobalConfiguration

    try:
        store = GlobalConfiguration().store_configuration
    except Exception:  # noqa: BLE001 - an unreadable config is not this error's story
        return None
    return str(store.url).rstrip("/") if str(store.type) == "rest" else None


def server_unreachable_message(server_url: str, reason: str) -> str:
    """What to do when the ZenML server at `server_url` stopped answering: restart it (a local one with the
    command that serves it on the same port) and run the command again, which resumes from the cache."""
    parts = urlsplit(server_url)
    if parts.hostname in {"127.0.0.1", "localhost", "::1"}:
        port = parts.port or ZENML_DEFAULT_PORT
        command = "make dashboard" if port == ZENML_DEFAULT_PORT else f"python run.py dashboard --port {port}"
        fix = f"restart it (`{command}`)"
    else:
        fix = "check that it is up and reachable from here"
    return (
        f"the ZenML server at {redact_url(server_url)} is unreachable ({reason}); {fix}, then run the same "
        "command again: steps that finished before it went away are reused from the cache"
    )


def _zenml_server_unreachable(error: BaseException) -> str | None:
    failed = failed_request(error)
    server = zenml_server_url() if failed else None
    if failed is None or server is None:
        return None
    url, reason = failed
    return server_unreachable_message(server, reason) if url == server or url.startswith(f"{server}/") else None


def _known_library_error(error: BaseException) -> str | None:
    if unreachable := _zenml_server_unreachable(error):
        return unreachable
    if isinstance(error, KeyError) and error.args and (found := _NO_ARTIFACT.search(str(error.args[0]))):
        return (
            f"no '{found.group(1)}' artifact in the ZenML store yet: `finetune`, `finetune --curated`, "
            "`samples` and `curate push --latest` use the latest generated pairs; run `python run.py generate` "
            "(or `python run.py run`) first"
        )
    return None


def interruption(error: BaseException) -> Interrupted | None:
    """The `Interrupted` anywhere in the chain of `error`, or None."""
    return next((link for link in error_chain(error) if isinstance(link, Interrupted)), None)


def user_facing_message(error: BaseException) -> str | None:
    """The one-line message for errors a user can fix, found anywhere in the exception chain.

    Args:
        error: the exception that ended the command (or that a step failed with).

    Returns:
        The message (the `EmbedtuneError`'s text, a known mistake explained, or how a signal stopped
        the run), or None when the error is a bug that deserves its traceback.
    """
    for link in error_chain(error):
        if isinstance(link, EmbedtuneError):
            return str(link)
        if isinstance(link, Interrupted):
            return (
                f"{link}: the run is marked as failed; run the same command again to resume "
                "(steps that finished are reused from the cache)"
            )
        if config_error := _config_error(link):
            return config_error
        if known := _known_library_error(link):
            return known
    return None


def _config_error(error: BaseException) -> str | None:
    """A config value refused after loading (e.g. `--corpus` assigned to a validated config)."""
    from pydantic import ValidationError

    from embedtune import config

    if isinstance(error, ValidationError) and isinstance(getattr(config, error.title, None), type):
        return f"invalid config: {config.describe_error(error)}"
    return None


def _print_traceback(error: BaseException) -> None:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    click.echo(redact_url(text).rstrip(), err=True)


def run_cli(cli: Callable[..., object], verbose: bool) -> None:
    """Run the click group and exit with its status; see the module docstring for what is printed."""
    install_signal_handlers()
    install_log_redaction()
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort as error:
        stopped = interruption(error)
        if verbose and stopped is not None:
            _print_traceback(error)
        signum = stopped.signum if stopped is not None else signal.SIGINT
        click.echo(f"error: {redact_url(user_facing_message(stopped or Interrupted(signum)) or '')}", err=True)
        sys.exit(128 + signum)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except Exception as error:  # noqa: BLE001 - every failure ends here, once
        message = user_facing_message(error)
        if message is None or verbose:
            _print_traceback(error)
        if message is None:
            sys.exit(1)
        click.echo(f"error: {redact_url(' '.join(message.split()))}", err=True)
        sys.exit(2)
