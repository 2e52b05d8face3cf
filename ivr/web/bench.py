"""Console page speed: `python -m ivr.web.bench`.

Fills a store with 10,000 varied synthetic calls (by default; a temp SQLite file unless
--store is given), logs in and times whole pages (query, template, HTTP through the ASGI app
in-process): /calls for the filters QA uses and deep keyset paging, and the dashboard in both
windows; prints p50/p95 per case. The target: p95 under 300 ms at 10,000 calls.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from ivr.store.bench import percentile
from ivr.store.store import CallStore, display_url, normalize_url
from ivr.web.accounts import Accounts
from ivr.web.app import ConsoleSettings, create_app
from ivr.web.sample import HOTLINES, fill

CASES = {
    "newest": "/calls",
    "outcome=transferred": "/calls?outcome=transferred",
    "hotline+survey": f"/calls?hotline={HOTLINES[0]}&survey=4",
    "last 7 days": "/calls?since={week_ago}",
    "text hit": "/calls?text=roaming",
    "text no hit": "/calls?text=no+such+words",
    "QA score 80-100": "/calls?min_score=80&max_score=100",
    "dashboard 24h": "/dashboard",
    "dashboard 7d": "/dashboard?window=7d",
}
PAGES_DEEP = 20  # "Older" links followed for the paging case


def logged_in_client(app: object, user: str, password: str) -> TestClient:
    """A client with a console session (TestClient talks https://testserver: Secure cookies
    are kept)."""
    client = TestClient(app, base_url="https://testserver")
    page = client.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"csrf": token, "name": user, "password": password})
    if response.status_code >= 400:
        raise RuntimeError(f"login failed: {response.status_code}")
    return client


def timed_get(client: TestClient, url: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - t0) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code}")
    return elapsed, response.text


def measure(store: CallStore, runs: int) -> dict[str, list[float]]:
    """Milliseconds per request, per case."""
    import datetime as dt

    Accounts(store.engine).add_user("bench", "qa", "bench-password")
    app = create_app(ConsoleSettings(store.url, Path(tempfile.gettempdir())), store)
    week_ago = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    timings: dict[str, list[float]] = {}
    with logged_in_client(app, "bench", "bench-password") as client:
        for name, url in CASES.items():
            url = url.format(week_ago=week_ago)
            timed_get(client, url)  # warm the caches once
            timings[name] = [timed_get(client, url)[0] for _ in range(runs)]
        deep = timings.setdefault(f"paging {PAGES_DEEP} deep", [])
        for _ in range(max(1, runs // PAGES_DEEP)):
            url = "/calls"
            for _ in range(PAGES_DEEP):
                elapsed, html = timed_get(client, url)
                deep.append(elapsed)
                url = "/calls?" + html.split('id="older" href="/calls?', 1)[1].split('"', 1)[0] \
                    .replace("&amp;", "&")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.web.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000, help="calls to store (default: "
                                                                   "%(default)s)")
    parser.add_argument("--runs", type=int, default=40, help="requests per case (default: "
                                                             "%(default)s)")
    parser.add_argument("--store", metavar="URL",
                        help="an empty store to fill (default: a temp SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ivr-web-bench-") as tmp:
        url = args.store or normalize_url(str(Path(tmp) / "calls.db"))
        store = CallStore.open(url)
        t0 = time.perf_counter()
        fill(store, args.calls)
        print(f"{display_url(url).split('?')[0]}: {args.calls} synthetic calls stored in "
              f"{time.perf_counter() - t0:.0f} s; ms per page (50 calls a list page):")
        try:
            results = measure(store, args.runs)
        finally:
            store.close()
    every: list[float] = []
    for name, values in results.items():
        every += values
        print(f"  {name:<22} n={len(values):3d}  p50 {statistics.median(values):6.1f}  "
              f"p95 {percentile(values, 95):6.1f}  max {max(values):6.1f}")
    print(f"  {'all cases':<22} n={len(every):3d}  p50 {statistics.median(every):6.1f}  "
          f"p95 {percentile(every, 95):6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
