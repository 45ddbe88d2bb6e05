"""The board page in headless Chromium (Debian's chromium driven by Playwright): rows, sorting,
the curve of a selected row, and a method name holding ``<script>`` shown as text."""

from __future__ import annotations

import httpx

from fixtures_leaderboard import live_server, real_result, service, variant

SCRIPT_NAME = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">evil"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def test_board_page_renders_sorts_plots_and_escapes(tmp_path):
    chromium = service("CLUB_TEST_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with live_server(f"sqlite:///{tmp_path / 'lb.db'}") as live, httpx.Client(base_url=live.url, timeout=60) as client:
        token = live.store.create_token("browser")
        docs = [real_result("finetune"), real_result("nmc"), real_result("finetune", "digits-cil", "--set", "epochs=1"),
                variant(real_result("nmc"), 1, method=SCRIPT_NAME)]  # fmt: skip
        for doc in docs:
            reply = client.post("/api/submissions", json=doc, headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == 201, reply.text
        board = client.get("/api/boards/digits-cil").json()
        names = [row["method"] for row in board["rows"]]

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900}
            )
            try:
                errors: list[str] = []
                page = browser.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{live.url}/boards/digits-cil")
                cells = page.locator("#board tbody tr td.method .name")
                assert cells.all_text_contents() == names  # the right rows, in rank order
                assert len(names) == 4 and names.count("finetune") == 2 and SCRIPT_NAME in names  # finetune: two configurations

                page.locator("th[data-key='forgetting'] button").click()  # lower is better: ascending first
                by_forgetting = sorted(board["rows"], key=lambda r: (r["values"]["forgetting"]["mean"], r["rank"]))
                assert cells.all_text_contents() == [r["method"] for r in by_forgetting]
                page.locator("th[data-key='method'] button").click()
                assert cells.all_text_contents() == sorted(names, key=str.lower)
                assert cells.all_text_contents() != names  # sorting reordered the rows

                assert page.locator("#curves svg").count() == 0
                row = page.locator("#board tbody tr", has=page.locator("td.method .config", has_text="epochs=20"))
                row.locator("input.select-row").check()
                curve = page.locator("#curves svg path.series")
                curve.wait_for()
                assert curve.count() == 1 and page.locator("#curves svg path.series title").text_content() == "finetune (epochs=20)"
                assert page.locator("#scatter svg circle.point").count() == 4

                assert page.evaluate("window.__pwned") is None and errors == []
                assert page.locator("script").count() == 3 and page.locator("#board img").count() == 0
                shot = tmp_path / "board.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"board screenshot: {shot}")
                assert shot.stat().st_size > 10_000
            finally:
                browser.close()
