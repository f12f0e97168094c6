"""Import and backfill throughput, against the webhook's rate from the last `make bench`.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres python bench/commands_rate.py \\
        [--import-events 100000] [--backfill-events 8000] [--jobs N]

Makes events of membership signups for users that exist (`bootwebhooks.inbox.samples`: a
quarter are `customer.created`, stored as ignored; the rest fully processed by the payments and
memberships handlers, down to each user's membership), then on a fresh database
`bench_commands` on that server:

- imports them from a JSON-lines file with `manage.py import_webhook_events`, in its own
  process: first a tenth of the file's size, then the whole file, each with its peak RSS (the
  largest of the command and its lanes), to show memory does not grow with the file;
- backfills a second, distinct set with `backfill_stripe_events` from a local stand-in for
  Stripe's Events API (tests/stripe_server.py; real HTTP through stripe-python);

and prints events/s for each and each rate over the webhook's unique-event rate (given, or
read from var/bench/latest.json, the last `make bench`).
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import-events", type=int, default=100_000)
    parser.add_argument("--backfill-events", type=int, default=8000)
    parser.add_argument("--webhook-rps", type=float, help="default: from var/bench/latest.json")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="--jobs for both (default: cores)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/postgres")
    if not server.startswith("postgres"):
        sys.exit("bench/commands_rate.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    sys.path.insert(0, str(ROOT))
    from bench.admin_list import _with_database

    _recreate_database(server, "bench_commands")
    os.environ["DATABASE_URL"] = _with_database(server, "bench_commands")
    os.environ.setdefault("STRIPE_WEBHOOK_SECRETS", "whsec_bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    webhook = args.webhook_rps or _webhook_rate()
    small = max(1, args.import_events // 10)
    _, _, small_rss = run_import("imps", small, args.jobs)
    import_rate, _, import_rss = run_import("imp", args.import_events, args.jobs)
    backfill_rate, _ = run_backfill(args.backfill_events, args.jobs)
    rows = [
        ("import_webhook_events", args.import_events, import_rate),
        ("backfill_stripe_events", args.backfill_events, backfill_rate),
    ]
    print(f"\n--jobs {args.jobs}; import peak RSS: {small:,} events {small_rss:.0f} MB, "
          f"{args.import_events:,} events {import_rss:.0f} MB")  # fmt: skip
    print(f"{'command':<26}{'events':>10}{'events/s':>10}{'vs webhook':>12}")
    for name, events, rate in rows:
        ratio = f"{rate / webhook:.2f}x" if webhook else "-"
        print(f"{name:<26}{events:>10,}{rate:>10.0f}{ratio:>12}")
    if webhook:
        print(f"{'webhook (unique events)':<26}{'':>10}{webhook:>10.0f}")
    if args.json:
        result = {
            "events": {name: events for name, events, _ in rows},
            "jobs": args.jobs,
            "rates": {name: rate for name, _, rate in rows},
            "peak_rss_mb": {str(small): small_rss, str(args.import_events): import_rss},
        }
        print(json.dumps(result))


def signups(n: int, prefix: str, first_user: int) -> Iterator[dict]:
    """`n` events: a signup journey per member, member i being user `first_user + i`."""
    from django.db import connection

    from bench.events import create_users
    from bootwebhooks.inbox import samples

    members = max(1, n // 4)
    with connection.cursor() as cursor:
        create_users(cursor, first_user, members)
    now = int(time.time()) - 3600
    for i in range(members):
        user = first_user + i
        email = f"member{user}@example.com"
        yield from samples.customer_journey(key=f"{prefix}{i}", user_id=user, email=email, now=now)


_first_user = {"imps": 1, "imp": 1_000_001, "bf": 2_000_001}


def run_import(prefix: str, n: int, jobs: int) -> tuple[float, float, float]:
    """(events/s, seconds, peak RSS in MB of the command or its largest lane)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for event in signups(n, prefix, _first_user[prefix]):
            f.write(json.dumps(event) + "\n")
    command = [sys.executable, "manage.py", "import_webhook_events", f.name, "--quiet"]
    started = time.perf_counter()
    # GNU time's %M: the maximum resident set of the process and of any child it waited for.
    timed = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command, "--jobs", str(jobs)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    os.unlink(f.name)
    peak_kb = int(timed.stderr.strip().splitlines()[-1])
    return n / elapsed, elapsed, peak_kb / 1024


def run_backfill(n: int, jobs: int) -> tuple[float, float]:
    from django.conf import settings
    from django.core.management import call_command

    from tests.stripe_server import FakeStripe

    with FakeStripe() as fake:
        fake.events = list(signups(n, "bf", _first_user["bf"]))
        settings.STRIPE_API_KEY = "sk_test_51TxBenchKey0000000000000000"
        settings.STRIPE_API_BASE = fake.url
        since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        started = time.perf_counter()
        call_command(
            "backfill_stripe_events",
            *("--since", since, "--quiet", "--jobs", str(jobs)),
            stdout=io.StringIO(),
        )
        elapsed = time.perf_counter() - started
    return n / elapsed, elapsed


def _webhook_rate() -> float | None:
    latest = ROOT / "var" / "bench" / "latest.json"
    if not latest.exists():
        return None
    results = json.loads(latest.read_text())["throughput"]["results"]
    return next((r["rps"] for r in results if r["name"] == "bootwebhooks: unique events"), None)


def _recreate_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
