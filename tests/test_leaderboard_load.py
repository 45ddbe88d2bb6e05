"""A bounded load test on loopback: 1,000 results from 20 concurrent clients, each accepted one
on the board exactly once; prints the accepted rate and the p99 latency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from fixtures_leaderboard import live_server, real_result, variant
from leaderboard.server import Limits
from leaderboard.verify import canonical_json

SUBMISSIONS, CLIENTS = 1000, 20


def test_a_thousand_submissions_from_twenty_clients(tmp_path):
    base = real_result()
    bodies = [canonical_json(variant(base, i)).encode() for i in range(SUBMISSIONS)]  # distinct content hashes
    with live_server(f"sqlite:///{tmp_path / 'lb.db'}", Limits(requests_per_minute=10 * SUBMISSIONS)) as live:
        tokens = [live.store.create_token(f"client-{c}") for c in range(CLIENTS)]

        def client(c: int) -> list[tuple[int, float, int | None]]:
            outcomes = []
            headers = {"Authorization": f"Bearer {tokens[c]}", "Content-Type": "application/json"}
            with httpx.Client(base_url=live.url, timeout=120) as http:
                for i in range(c, SUBMISSIONS, CLIENTS):
                    start = time.perf_counter()
                    reply = http.post("/api/submissions", content=bodies[i], headers=headers)
                    outcomes.append((reply.status_code, time.perf_counter() - start, reply.json().get("id")))
            return outcomes

        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            outcomes = [o for per_client in pool.map(client, range(CLIENTS)) for o in per_client]
        elapsed = time.perf_counter() - start
        board = httpx.get(f"{live.url}/api/boards/digits-cil", timeout=120).json()

    accepted = [entry for status, _, entry in outcomes if status == 201]
    p99 = float(np.percentile([latency for _, latency, _ in outcomes], 99))
    print(
        f"load: {len(outcomes)} submissions from {CLIENTS} clients in {elapsed:.1f} s: accepted {len(accepted) / len(outcomes):.1%}, "
        f"p99 latency {p99 * 1000:.0f} ms, {len(outcomes) / elapsed:.0f} submissions/s"
    )
    assert len(outcomes) == SUBMISSIONS and {status for status, _, _ in outcomes} == {201}
    on_board = [entry for row in board["rows"] for entry in row["entries"]]
    assert len(on_board) == len(set(on_board)) and sorted(on_board) == sorted(accepted)
