"""``python -m leaderboard``: submit, show, verify, serve and export the leaderboard.

Examples::

    python -m leaderboard submit runs/digits-cil_er_s0_20261123-101500     # a run folder
    python -m leaderboard submit sweeps/lr-grid/                           # every run in a sweep
    python -m leaderboard submit result.json --server https://club.example --token $TOKEN
    python -m leaderboard show digits-cil
    python -m leaderboard verify 7                                         # replay entry 7
    python -m leaderboard token create alice
    python -m leaderboard serve --port 8000
    python -m leaderboard export --out site/

The database is ``--db`` (a SQLAlchemy URL, or a SQLite file path), else
``$CLUB_LEADERBOARD_DB``, else ``./leaderboard.db``. Exit status: 0 done, 2 a submission was
refused or the command was misused, 1 the environment failed (database, network, data),
3 ``verify`` found the replay diverged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .schema import InvalidResult

USAGE, ENVIRONMENT, DIVERGED = 2, 1, 3
RESULT = "result.json"


class Failure(Exception):
    """Ends the command with one line on stderr and exit status ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--db", help="SQLAlchemy URL or SQLite file (default $CLUB_LEADERBOARD_DB or ./leaderboard.db)")
        return sub

    submit = command("submit", "validate results (files, run folders, sweep folders) and add them to the board or post them to a server")
    submit.add_argument("paths", nargs="+", type=Path, metavar="RUN_DIR_OR_RESULT")
    submit.add_argument("--server", help="post to this leaderboard server instead of the local database")
    submit.add_argument("--token", default=os.environ.get("CLUB_LEADERBOARD_TOKEN"), help="submit token for --server (env CLUB_LEADERBOARD_TOKEN)")
    submit.add_argument("--data-dir", type=Path, help="where scenarios are rebuilt from (default $CLUB_DATA or ~/.cache/club)")

    show = command("show", "print a preset's board as a table")
    show.add_argument("preset")
    show.add_argument("--mixed-seeds", action="store_true", help="rank single-seed rows among the others instead of below them")

    verify = command("verify", "re-run a stored entry from its config and commit and compare its per-class records")
    verify.add_argument("entry", help="entry id")
    verify.add_argument("--repo", type=Path, help="the CLUB git checkout to replay from (default: the one this package is in)")
    verify.add_argument("--data-dir", type=Path, help="dataset cache for the replay (default as for benchmarks.run)")
    verify.add_argument("--timeout", type=float, help="give up after this many seconds")

    token = command("token", "create a submit token")
    token.add_argument("action", choices=["create"])
    token.add_argument("name", help="who submits with it")

    serve = command("serve", "run the leaderboard web server (FastAPI on uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-body-mb", type=float, default=64.0, help="largest accepted request body (default 64 MB)")
    serve.add_argument("--rate-limit", type=int, default=120, help="requests per minute per client (default 120)")
    serve.add_argument("--data-dir", type=Path, help="where scenarios are rebuilt from (default $CLUB_DATA or ~/.cache/club)")

    export = command("export", "write the pages as static files and the boards as a Markdown table")
    export.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def open_store(db: str | None) -> Any:
    from .store import Store, StoreUnavailable, database_url

    try:
        return Store(database_url(db))
    except StoreUnavailable as e:
        raise Failure(str(e), ENVIRONMENT) from None


def result_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Every ``result.json`` named or found (recursively) in the given folders, and one line per path that has none.

    Folders whose names start with ``.`` are skipped inside a given folder: a sweep unpacks run
    folders sent back by Ray workers into such temporary copies.
    """
    files, missing = [], []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(f for f in path.rglob(RESULT) if not any(part.startswith(".") for part in f.relative_to(path).parts))
            files += found
            if not found:
                missing.append(f"refused: {path}: no {RESULT} in this folder (an unfinished run?)")
        else:
            missing.append(f"refused: {path}: no such file or folder")
    return files, missing


def _post(server: str, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.rstrip("/") + "/api/submissions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read())
        except ValueError:
            return e.code, {"error": e.reason}
    except (urllib.error.URLError, OSError) as e:
        raise Failure(f"cannot reach {server}: {getattr(e, 'reason', e)}", ENVIRONMENT) from None


def submit(args: argparse.Namespace) -> int:
    from .store import DuplicateSubmission
    from .verify import ScenarioUnavailable, parse_document, verify_result

    if args.server and not args.token:
        raise Failure("--server needs --token (or CLUB_LEADERBOARD_TOKEN): create one with `python -m leaderboard token create NAME`", USAGE)
    files, refusals = result_files(args.paths)
    for line in refusals:
        print(line, file=sys.stderr)
    store = None if args.server else open_store(args.db)
    status = USAGE if refusals else 0
    for path in files:
        try:
            verified = verify_result(parse_document(path.read_bytes()), args.data_dir)
        except OSError as e:
            print(f"refused: {path}: cannot read it ({e.strerror})", file=sys.stderr)
            status = status or USAGE
            continue
        except InvalidResult as e:
            print(f"refused: {path}: {e}", file=sys.stderr)
            status = status or USAGE
            continue
        except ScenarioUnavailable as e:
            raise Failure(f"{path}: {e}", ENVIRONMENT) from None
        if args.server:
            code, reply = _post(args.server, args.token, verified.canonical.encode())
            if code in (401, 403):
                raise Failure(f"the server refused the token: {reply.get('error', code)}", USAGE)
            if code != 201:
                print(f"refused: {path}: {reply.get('error', f'HTTP {code}')}", file=sys.stderr)
                status = status or (USAGE if code < 500 else ENVIRONMENT)
                continue
            print(f"accepted: {path} → entry {reply['id']} at {args.server.rstrip('/')}{reply['page']}")
        else:
            try:
                entry = store.add(verified, "local")
            except DuplicateSubmission as e:
                print(f"refused: {path}: {e}", file=sys.stderr)
                status = status or USAGE
                continue
            print(f"accepted: {path} → entry {entry} on board {verified.preset} ({verified.method}, seed {verified.document['seed']})")
    return status


def show(args: argparse.Namespace) -> int:
    from .board import board_of
    from .tables import text_table

    store = open_store(args.db)
    stored = store.board(args.preset)
    if stored is None:
        boards = ", ".join(p for p, _, _ in store.presets()) or "none yet"
        raise Failure(f"no entries on board {args.preset!r} (boards: {boards})", USAGE)
    print(text_table(board_of(stored, single_seed_last=not args.mixed_seeds)))
    return 0


def verify(args: argparse.Namespace) -> int:
    from .replay import ReplayFailed, ReplayRefused, replay, repository

    if not args.entry.isdigit():
        raise Failure(f"ENTRY must be an entry id (a number), got {args.entry!r}", USAGE)
    store = open_store(args.db)
    row = store.submission(int(args.entry))
    if row is None:
        raise Failure(f"no entry {args.entry} in the leaderboard database", USAGE)
    try:
        document = json.loads(row.document)
        print(f"entry {row.id}: replaying {row.method} on {row.preset}, seed {row.seed}, commit {row.git_commit} …", flush=True)
        outcome = replay(document, repository(args.repo), args.data_dir, args.timeout)
    except ReplayRefused as e:
        raise Failure(f"entry {row.id} cannot be replayed: {e}", USAGE) from None
    except ReplayFailed as e:
        raise Failure(f"entry {row.id}: {e}", ENVIRONMENT) from None
    except (KeyError, TypeError, ValueError) as e:
        raise Failure(f"entry {row.id}: the stored document cannot be replayed ({type(e).__name__}: {e})", USAGE) from None
    store.add_verification(row.id, outcome.outcome, outcome.first_differing_step, outcome.detail, outcome.commit)
    where = "" if outcome.first_differing_step is None else f" at step {outcome.first_differing_step}"
    print(f"entry {row.id}: {outcome.outcome}{where} — {outcome.detail}")
    return 0 if outcome.outcome == "reproduced" else DIVERGED


def token(args: argparse.Namespace) -> int:
    store = open_store(args.db)
    try:
        secret = store.create_token(args.name)
    except ValueError as e:
        raise Failure(str(e), USAGE) from None
    print(f"token for {args.name!r} (shown once; only its hash is stored):", file=sys.stderr)
    print(secret)
    return 0


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server import Limits, create_app

    limits = Limits(max_body_bytes=int(args.max_body_mb * 2**20), requests_per_minute=args.rate_limit)
    app = create_app(open_store(args.db), limits, args.data_dir)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def export(args: argparse.Namespace) -> int:
    from .export import export_site

    try:
        written = export_site(open_store(args.db), args.out)
    except OSError as e:
        raise Failure(f"cannot write {args.out}: {e.strerror}", ENVIRONMENT) from None
    print(f"wrote {written} boards to {args.out} (open {args.out / 'index.html'}; Markdown: {args.out / 'leaderboard.md'})")
    return 0


COMMANDS = {"submit": submit, "show": show, "verify": verify, "token": token, "serve": serve, "export": export}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except ImportError as e:
        print(f"error: the leaderboard needs its extra (pip install -e '.[leaderboard]'): {e}", file=sys.stderr)
        return ENVIRONMENT
    except Exception as e:
        if not type(e).__module__.startswith("sqlalchemy"):
            raise
        print(f"error: leaderboard database: {' '.join(str(e).split())[:300]}", file=sys.stderr)
        return ENVIRONMENT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
