#!/usr/bin/env python3
"""The clinic's free appointment times, as a small HTTP service: the example business look-up
behind `tools.free_slots` in dialplans/clinic-appointments.yaml (and the tests' tool service).

    python infra/examples/clinic_free_slots.py --port 8071

POST /free-slots {"appointment_date": "2026-12-03"} answers {"appointment_date": ...,
"times": ["9:00", "10:30", ...]}: the clinic's session times that day less those booked in
`--booked FILE` (JSON: {"2026-12-03": ["9:00"]}); none on Sundays and public holidays. A bad
date is a 400. Standard library only, so it runs anywhere a clinic's IT can run Python.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEEKDAY_TIMES = ["9:00", "10:30", "14:00", "15:30", "17:00"]
SATURDAY_TIMES = ["9:00", "10:30"]
HOLIDAYS = {"2026-01-01", "2026-02-17", "2026-02-18", "2026-02-19", "2026-10-01"}


def free_times(day: datetime.date, booked: dict[str, list[str]]) -> list[str]:
    """Session times left on `day`."""
    if day.isoformat() in HOLIDAYS or day.weekday() == 6:
        return []
    times = SATURDAY_TIMES if day.weekday() == 5 else WEEKDAY_TIMES
    return [t for t in times if t not in booked.get(day.isoformat(), [])]


def handler(booked: dict[str, list[str]], delay_s: float) -> type[BaseHTTPRequestHandler]:
    class FreeSlots(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server interface
            if self.path != "/free-slots":
                return self._answer(404, {"error": f"no such path {self.path}"})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                day = datetime.date.fromisoformat(body["appointment_date"])
            except (ValueError, KeyError, TypeError):
                return self._answer(400, {"error": "send {\"appointment_date\": \"YYYY-MM-DD\"}"})
            time.sleep(delay_s)
            self._answer(200, {"appointment_date": day.isoformat(),
                               "times": free_times(day, booked)})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return FreeSlots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8071, help="port on 127.0.0.1 (default 8071)")
    parser.add_argument("--booked", type=Path, help="JSON file of booked times per day")
    parser.add_argument("--delay-ms", type=int, default=0,
                        help="answer this late (to try a plan's tool timeout)")
    args = parser.parse_args()
    booked = json.loads(args.booked.read_text()) if args.booked else {}
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(booked, args.delay_ms / 1000))
    print(f"clinic free slots on http://127.0.0.1:{server.server_port}/free-slots", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
