"""Real runs for the leaderboard tests, made once per test process and shared by every module.

``real_result(method, scenario)`` runs ``benchmarks.run`` in this process (no interpreter
start-up) on a digits preset with seed 0 and returns a fresh copy of its ``result.json``
(``real_run`` its file). ``live_server`` serves a store on loopback with uvicorn in a thread.
``variant(result, i)`` makes distinct, still valid results from one run cheaply (another value
of a hyperparameter the scenario and the records do not depend on), so content hashes differ.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RUNS = Path(tempfile.mkdtemp(prefix="club-leaderboard-runs-"))
atexit.register(shutil.rmtree, RUNS, ignore_errors=True)
DEFAULT_METHODS = ("finetune", "ewc", "lwf", "nmc", "er", "joint")


@functools.cache
def _run(method: str, scenario: str, extra: tuple[str, ...]) -> Path:
    import torch

    from benchmarks.run import main

    torch.set_num_threads(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--method", method, "--scenario", scenario, "--device", "cpu", "--out", str(RUNS), *extra])
    assert code == 0, out.getvalue()[-2000:]
    return Path(out.getvalue().strip().splitlines()[-1].removeprefix("result: "))


def real_run(method: str = "finetune", scenario: str = "digits-cil", *extra: str) -> Path:
    """The ``result.json`` file of a real run (seed 0, CPU), made once per test process."""
    return _run(method, scenario, tuple(extra))


def real_result(method: str = "finetune", scenario: str = "digits-cil", *extra: str) -> dict:
    """``result.json`` of a real run (seed 0, CPU), as a new dict on every call."""
    return json.loads(real_run(method, scenario, *extra).read_text())


def variant(result: dict, i: int, method: str | None = None) -> dict:
    """A copy of ``result`` that differs in a hyperparameter value (and optionally the method name)."""
    doc = copy.deepcopy(result)
    doc["method"]["hyperparameters"]["variant"] = i
    if method is not None:
        doc["method"]["name"] = method
    return doc


def service(variable: str) -> str:
    """The value of a service variable (PostgreSQL URL, Chromium path): skip without it, but fail in CI."""
    value = os.environ.get(variable)
    if not value and variable == "CLUB_TEST_CHROMIUM" and Path("/usr/bin/chromium").exists():
        value = "/usr/bin/chromium"
    if not value:
        message = f"{variable} is not set"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run this test")
        pytest.skip(message)
    return value


@contextlib.contextmanager
def postgres_database():
    """A fresh PostgreSQL database on the test server (``CLUB_TEST_POSTGRES_URL``), dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(service("CLUB_TEST_POSTGRES_URL"))
    name = f"club_lb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A database URL for a fresh store: a SQLite file, and a PostgreSQL database when one is available."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'leaderboard.db'}"
    else:
        with postgres_database() as url:
            yield url


@dataclass
class Live:
    url: str
    store: Any


@contextlib.contextmanager
def live_server(db_url: str, limits: Any = None, data_dir: Path | None = None):
    """A real uvicorn server on a free loopback port over a store at ``db_url``."""
    import socket
    import threading
    import time

    import uvicorn

    from leaderboard.server import Limits, create_app
    from leaderboard.store import Store

    store = Store(db_url)
    app = create_app(store, limits or Limits(), data_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{sock.getsockname()[1]}", store)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        store.close()
