"""What the known-good record costs the healthy examination, and the doctor's time per round.

Starts one target of harness's own server and measures, N times each:
- the second round trip with and without the record's part (ms, bytes of output);
- the record itself as JSON (bytes);
- a whole examination (both round trips, parsing, diagnosis) on the healthy server, and one round on a broken
  one (the web root renamed), with the healthy record as the baseline.
Prints one JSON object; nothing here asserts a speed.

    .venv/bin/python bench/record.py [N]
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from harness.doctor import collect_script, examine, second_argv
from harness.inside import plan
from harness.semantics import Request
from harness.session import Session


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def main(n: int) -> dict[str, object]:
    with Session() as session, session.new_target() as target:
        healthy = examine(target)
        facts = healthy.facts
        first = target.exec(["sh", "-c", collect_script()])
        without, with_record, bytes_without, bytes_with, whole = [], [], 0, 0, []
        for _ in range(n):
            started = time.monotonic()
            alone = target.exec(plan(facts.config, (), facts.error_logs).argv())
            without.append(time.monotonic() - started)
            started = time.monotonic()
            both = target.exec(second_argv(facts, ()))
            with_record.append(time.monotonic() - started)
            bytes_without, bytes_with = len(alone.stdout.encode()), len(both.stdout.encode())
            started = time.monotonic()
            examine(target)
            whole.append(time.monotonic() - started)
        target.exec(["mv", "/var/www/html", "/var/www/html.old"], check=True)
        rounds = []
        for _ in range(n):
            started = time.monotonic()
            examine(target, ("the probe: HTTP 404",), (Request(),), facts)
            rounds.append(time.monotonic() - started)
        record = facts.record().to_json()
        return {
            "runs": n,
            "second_round_trip_ms": {"without_record": median_ms(without), "with_record": median_ms(with_record)},
            "record_adds_ms": round(median_ms(with_record) - median_ms(without), 1),
            "second_round_trip_bytes": {"without_record": bytes_without, "with_record": bytes_with},
            "record_adds_bytes": bytes_with - bytes_without,
            "first_round_trip_bytes": len(first.stdout.encode()),
            "record_json_bytes": len(record.encode()),
            "healthy_examination_ms": median_ms(whole),
            "doctor_round_ms_on_a_broken_server": median_ms(rounds),
        }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10), indent=2))
