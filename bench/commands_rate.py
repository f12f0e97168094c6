"""Import and backfill throughput, against the webhook's rate from the last `make bench`.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres python bench/commands_rate.py [--events N]

Makes N events of membership signups (`bootwebhooks.inbox.samples`: a quarter are
`customer.created`, stored as ignored; the rest fully processed by the payments and memberships
handlers), then on a fresh database `bench_commands` on that server:

- imports them from a JSON-lines file with `import_webhook_events`;
- backfills a second, distinct set with `backfill_stripe_events` from a local stand-in for
  Stripe's Events API (tests/stripe_server.py; real HTTP through stripe-python);

and prints events/s for each, the process's peak RSS, and each rate over the webhook's
unique-event rate read from var/bench/latest.json (the last `make bench`), if there is one.
"""

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=8000, help="per command (default 8000)")
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
    rows = [
        ("import_webhook_events", *run_import(args.events, args.jobs)),
        ("backfill_stripe_events", *run_backfill(args.events, args.jobs)),
    ]
    # The largest of the command process and its lanes (RUSAGE_CHILDREN: the largest child).
    usage = (
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    peak = max(usage) / 1024
    print(
        f"\n{args.events:,} events per command, --jobs {args.jobs}; "
        f"peak RSS per process {peak:.0f} MB"
    )
    print(f"{'command':<26}{'events/s':>10}{'vs webhook':>12}")
    for name, rate, _ in rows:
        ratio = f"{rate / webhook:.2f}x" if webhook else "-"
        print(f"{name:<26}{rate:>10.0f}{ratio:>12}")
    if webhook:
        print(f"{'webhook (unique events)':<26}{webhook:>10.0f}")
    if args.json:
        rates = {name: rate for name, rate, _ in rows}
        print(
            json.dumps(
                {"events": args.events, "jobs": args.jobs, "rates": rates, "peak_rss_mb": peak}
            )
        )


def signups(n: int, prefix: str) -> list[dict]:
    from bootwebhooks.inbox import samples

    events = []
    now = int(time.time()) - 3600
    for i in range(n // 4):
        email = f"{prefix}{i}@example.com"
        events += samples.customer_journey(key=f"{prefix}{i}", user_id=None, email=email, now=now)
    return events


def run_import(n: int, jobs: int) -> tuple[float, float]:
    from django.core.management import call_command

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for event in signups(n, "imp"):
            f.write(json.dumps(event) + "\n")
    started = time.perf_counter()
    call_command(
        "import_webhook_events", f.name, "--quiet", "--jobs", str(jobs), stdout=io.StringIO()
    )
    elapsed = time.perf_counter() - started
    os.unlink(f.name)
    return n / elapsed, elapsed


def run_backfill(n: int, jobs: int) -> tuple[float, float]:
    from django.conf import settings
    from django.core.management import call_command
    from tests.stripe_server import FakeStripe

    with FakeStripe() as fake:
        fake.events = signups(n, "bf")
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
