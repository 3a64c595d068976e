"""A local Argilla 2.8 server without Docker or Elasticsearch: argilla-server + SQLite + embedtune's SQL search
engine + Redis (Debian's redis-server when installed, else an in-process fakeredis).

Run it with the server's own virtual environment (`make argilla-up` creates `.argilla-venv`):

    .argilla-venv/bin/python scripts/argilla/server.py start [--home .argilla] [--port 6900] [--background]
    .argilla-venv/bin/python scripts/argilla/server.py stop [--home .argilla]

The first start creates the database, an owner user `argilla` with a random password and API key (kept in
HOME/password and HOME/api_key, mode 0600) and a workspace `argilla`. The UI is served at http://HOST:PORT/.
Nothing here is imported by the embedtune package: it talks to the server over HTTP like any other client.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
USERNAME = "argilla"
WORKSPACE = "argilla"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _secret_file(path: Path, make: callable) -> str:
    if not path.exists():
        path.write_text(make(), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def prepare_home(home: Path, api_key: str | None, password: str | None) -> None:
    home.mkdir(parents=True, exist_ok=True)
    if api_key:
        (home / "api_key").write_text(api_key, encoding="utf-8")
    if password:
        (home / "password").write_text(password, encoding="utf-8")
    for name, make in (
        ("api_key", lambda: f"argilla.{secrets.token_urlsafe(24)}"),
        ("password", lambda: secrets.token_urlsafe(12)),
        ("auth_secret_key", lambda: secrets.token_hex(32)),  # stable, so UI logins survive restarts
    ):
        _secret_file(home / name, make)
        (home / name).chmod(0o600)


def server_env(home: Path, redis_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ARGILLA_HOME_PATH": str(home),
            "ARGILLA_SEARCH_ENGINE": "embedtune-sql",
            "ARGILLA_AUTH_SECRET_KEY": (home / "auth_secret_key").read_text(encoding="utf-8").strip(),
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
    )
    env["ARGILLA_REDIS_URL"] = redis_url or "redis://127.0.0.1:1/0"  # unused when fakeredis is patched in
    return env


def _prepare_database() -> None:
    """Runs in a child process with the server's environment: schema migration + the default owner user."""
    import asyncio

    import alembic.config
    from argilla_server.cli.database.users.create_default import _create_default
    from argilla_server.database import ALEMBIC_CONFIG_FILE

    alembic.config.main(argv=["-c", ALEMBIC_CONFIG_FILE, "upgrade", "head"])
    home = Path(os.environ["ARGILLA_HOME_PATH"])
    asyncio.run(
        _create_default(
            api_key=(home / "api_key").read_text(encoding="utf-8").strip(),
            password=(home / "password").read_text(encoding="utf-8").strip(),
            quiet=True,
        )
    )


def _start_redis(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            shutil.which("redis-server"),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(home),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(home / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"redis-server did not start; see {home / 'redis.log'}")


def _serve(host: str, port: int, fake_redis: bool) -> None:
    """Runs in the server process: registers the search engine, swaps in fakeredis if asked, serves the app."""
    import sql_search_engine  # noqa: F401  (registers "embedtune-sql")
    import uvicorn

    if fake_redis:
        import argilla_server._app as server_app
        import fakeredis
        from argilla_server.jobs import queues

        fake = fakeredis.FakeRedis()  # rq jobs (distribution updates, hub import/export, webhooks) never run
        server_app.REDIS_CONNECTION = queues.REDIS_CONNECTION = fake
        queues.DEFAULT_QUEUE.connection = queues.HIGH_QUEUE.connection = fake
    from argilla_server import app

    uvicorn.run(app, host=host, port=port, log_level="warning")


def wait_until_up(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the Argilla server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/version", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the Argilla server did not answer at {url} within {timeout:.0f} s")


def start(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    prepare_home(home, args.api_key, args.password)
    if args.background:
        return _start_background(args, home)
    use_redis = args.redis == "server" or (args.redis == "auto" and shutil.which("redis-server"))
    if args.redis == "server" and not shutil.which("redis-server"):
        raise SystemExit("redis-server not found: apt-get install redis-server, or use --redis fake")
    children: list[subprocess.Popen] = []
    redis_url = None
    if use_redis:
        redis_process, redis_url = _start_redis(home)
        children.append(redis_process)

    def stop_children(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop_children(), sys.exit(0)))
    env = server_env(home, redis_url)
    try:
        subprocess.run(
            [sys.executable, __file__, "_prepare"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL if args.quiet else None,
        )
        if use_redis and args.worker:
            children.append(subprocess.Popen([sys.executable, __file__, "_worker"], env=env))
        os.environ.update(env)
        sys.path.insert(0, str(HERE))
        url = f"http://{args.host}:{args.port}"
        print(
            f"Argilla {'(redis-server)' if use_redis else '(fakeredis)'} serving at {url}  "
            f"user: {USERNAME}  password: file {home / 'password'}  API key: file {home / 'api_key'}",
            flush=True,
        )
        _serve(args.host, args.port, fake_redis=not use_redis)
    finally:
        stop_children()
    return 0


def _start_background(args: argparse.Namespace, home: Path) -> int:
    pid_file = home / "server.pid"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        print(f"Argilla already running (pid {pid_file.read_text().strip()}); `make argilla-down` stops it")
        return 0
    command = [
        sys.executable,
        __file__,
        "start",
        "--home",
        str(home),
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--redis",
        args.redis,
    ] + (["--worker"] if args.worker else [])
    with open(home / "server.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(process.pid), encoding="utf-8")
    url = f"http://{args.host}:{args.port}"
    try:
        wait_until_up(url, args.timeout, process)
    except SystemExit:
        print(f"see {home / 'server.log'}", file=sys.stderr)
        raise
    print(f"Argilla UI: {url}  (user: {USERNAME}, password in {home / 'password'})")
    print(f"Use it:  export ARGILLA_API_URL={url} ARGILLA_API_KEY=$(cat {home / 'api_key'})")
    print(f"Log: {home / 'server.log'}; stop with `make argilla-down`")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def stop(args: argparse.Namespace) -> int:
    pid_file = Path(args.home).resolve() / "server.pid"
    if not pid_file.exists():
        print("Argilla is not running (no pid file)")
        return 0
    pid = int(pid_file.read_text())
    if _alive(pid):
        os.killpg(pid, signal.SIGTERM)  # its own session: the server and the redis-server/worker it started
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    print(f"Argilla stopped (pid {pid}); data kept in {pid_file.parent}")
    return 0


def add_user(args: argparse.Namespace) -> int:
    """Another user (e.g. an annotator) in the server's database; prints its API key unless given one."""
    home = Path(args.home).resolve()
    if not (home / "auth_secret_key").exists():
        raise SystemExit(f"no Argilla data in {home}: start the server first")
    api_key = args.api_key or secrets.token_urlsafe(24)
    env = server_env(home, None)
    env.update(
        EMBEDTUNE_NEW_USER=args.username,
        EMBEDTUNE_NEW_PASSWORD=args.password,
        EMBEDTUNE_NEW_ROLE=args.role,
        EMBEDTUNE_NEW_API_KEY=api_key,
        EMBEDTUNE_NEW_WORKSPACE=args.workspace,
    )  # not on a command line
    result = subprocess.run(
        [sys.executable, __file__, "_add_user"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"could not create user {args.username}: {result.stderr[-800:]}")
    print(
        f"user {args.username} ({args.role}) in workspace {args.workspace}"
        + ("" if args.api_key else f"; API key: {api_key}")
    )
    return 0


def _add_user_in_process() -> None:
    import asyncio

    from argilla_server.cli.database.users.utils import get_or_new_workspace
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import User, UserRole

    async def create() -> None:
        async with AsyncSessionLocal() as session:
            username = os.environ["EMBEDTUNE_NEW_USER"]
            if await accounts.get_user_by_username(session, username):
                raise SystemExit(f"user {username} already exists")
            await User.create(
                session,
                first_name=username,
                username=username,
                role=UserRole(os.environ["EMBEDTUNE_NEW_ROLE"]),
                api_key=os.environ["EMBEDTUNE_NEW_API_KEY"],
                password_hash=accounts.hash_password(os.environ["EMBEDTUNE_NEW_PASSWORD"]),
                workspaces=[await get_or_new_workspace(session, os.environ["EMBEDTUNE_NEW_WORKSPACE"])],
            )

    asyncio.run(create())


def _worker() -> None:
    import sql_search_engine  # noqa: F401
    from argilla_server.cli.worker import worker

    worker(queues=["default", "high"], num_workers=1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_prepare"]:
        _prepare_database()
        return 0
    if argv[:1] == ["_add_user"]:
        _add_user_in_process()
        return 0
    if argv[:1] == ["_worker"]:
        sys.path.insert(0, str(HERE))
        _worker()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start the server (foreground unless --background)")
    start_parser.add_argument("--home", default=".argilla", help="data folder (SQLite database, keys, logs)")
    start_parser.add_argument("--host", default="127.0.0.1")
    start_parser.add_argument("--port", type=int, default=6900)
    start_parser.add_argument(
        "--redis",
        choices=["auto", "server", "fake"],
        default="auto",
        help="auto: redis-server if installed, else in-process fakeredis",
    )
    start_parser.add_argument("--worker", action="store_true", help="also run an rq worker (needs redis-server)")
    start_parser.add_argument("--background", action="store_true", help="detach, wait until it answers, return")
    start_parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for --background")
    start_parser.add_argument("--api-key", help="owner API key (default: random, kept in HOME/api_key)")
    start_parser.add_argument("--password", help="owner password (default: random, kept in HOME/password)")
    start_parser.add_argument("--quiet", action="store_true")
    stop_parser = commands.add_parser("stop", help="stop a server started with --background")
    stop_parser.add_argument("--home", default=".argilla")
    user_parser = commands.add_parser("add-user", help="add a user (e.g. an annotator) to a server's database")
    user_parser.add_argument("--home", default=".argilla")
    user_parser.add_argument("--username", required=True)
    user_parser.add_argument("--password", required=True, help="8 characters at least")
    user_parser.add_argument("--role", choices=["annotator", "admin", "owner"], default="annotator")
    user_parser.add_argument("--workspace", default=WORKSPACE)
    user_parser.add_argument("--api-key", help="default: a random one")
    args = parser.parse_args(argv)
    return {"start": start, "stop": stop, "add-user": add_user}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
