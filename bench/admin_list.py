"""The support admin on a big table: render times with a million stored events.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres python bench/admin_list.py [--events N]

Creates (or reuses) a database `bench_admin` on that server, fills it with N events (default
1,000,000) by one INSERT ... SELECT generate_series, and times the admin pages through Django's
test client (rendering included, no network): the list, filtered lists, searches (exact and
partial: part of an email or an id, a term matching every event, one matching none), the person
search, an event's detail page and the admin index with its overview panel. Prints a table of
median/worst milliseconds over several requests; the goal is well under a second each.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
TYPES = [
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "customer.subscription.updated",
    "customer.subscription.created",
    "checkout.session.completed",
    "charge.refunded",
    "customer.created",
]

FILL = """
INSERT INTO {table} (
    stripe_id, type, api_version, livemode, stripe_created, account, object_id, customer_id,
    customer_email, headers, body, source, received_at, delivery_count, attempt_count, status,
    processed_at)
SELECT
    'evt_bench' || lpad(i::text, 9, '0'),
    (ARRAY{types})[1 + i % {ntypes}],
    '2026-10-28.endive', false,
    now() - (i || ' seconds')::interval, '',
    'in_bench' || i, 'cus_bench' || (i % 50000), 'student' || (i % 50000) || '@example.com',
    '{{}}'::jsonb,
    '{{"id": "evt_bench' || i || '", "object": "event", "type": "invoice.paid", '
      || '"created": 1780000000, "data": {{"object": {{"id": "in_bench' || i || '"}}}}}}',
    'webhook',
    now() - (i || ' seconds')::interval, 1, 1,
    CASE WHEN i % 997 = 0 THEN 'failed' WHEN i % 101 = 0 THEN 'ignored'
         WHEN i % 5003 = 0 THEN 'pending' ELSE 'processed' END,
    CASE WHEN i % 997 = 0 OR i % 5003 = 0 THEN NULL ELSE now() END
FROM generate_series(1, {n}) AS i
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database", default="bench_admin", help="created if missing")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/postgres")
    if not server.startswith("postgres"):
        sys.exit("bench/admin_list.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ["DATABASE_URL"] = _with_database(server, args.database)
    _create_database(server, args.database)
    os.environ.setdefault("STRIPE_WEBHOOK_SECRETS", "whsec_bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill(args.events)
    measure(args.repeat)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _create_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def fill(n: int) -> None:
    from django.db import connection

    from bootwebhooks.inbox.models import WebhookEvent

    table = WebhookEvent._meta.db_table
    have = WebhookEvent.objects.filter(stripe_id__startswith="evt_bench").count()
    if have == n:
        print(f"reusing {have:,} events")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table} CASCADE")
        types = "[" + ",".join(f"'{t}'" for t in TYPES) + "]"
        cursor.execute(FILL.format(table=table, types=types, ntypes=len(TYPES), n=n))
    with connection.cursor() as cursor:  # outside the transaction: VACUUM refuses one
        cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"stored {n:,} events in {time.perf_counter() - started:.1f}s")


def measure(repeat: int) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from bootwebhooks.inbox.models import WebhookEvent

    admin, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True})
    admin.is_superuser = admin.is_staff = True
    admin.save()
    client = Client()
    client.force_login(admin)
    some = WebhookEvent.objects.filter(status="failed").order_by("-received_at").first()
    base = "/admin/bootwebhooks_inbox/webhookevent/"
    pages = [
        ("event list", base),
        ("list, page 50", base + "?p=50"),
        ("failed only", base + "?status__exact=failed"),
        ("one type", base + "?type=invoice.paid"),
        ("received today", base + "?" + _today("received_at")),
        ("search by email", base + "?q=student4242@example.com"),
        ("search by customer", base + "?q=cus_bench4242"),
        ("search, part of an email", base + "?q=TUDENT4242@"),
        ("search, part of an id", base + "?q=in_bench42424"),
        ("search, part of an event id", base + "?q=evt_bench00042424"),
        ("search, 1M matches", base + "?q=student"),
        ("search, no match", base + "?q=nobody-at-all"),
        ("find a person", "/admin/bootwebhooks_memberships/membership/people/?q=tudent4242"),
        ("event detail", f"{base}{some.pk}/change/"),
        ("admin index (overview)", "/admin/"),
    ]
    total = WebhookEvent.objects.count()
    print(f"\nadmin on PostgreSQL with {total:,} events (median / worst of {repeat}, ms)")
    print(f"{'page':<26}{'median':>9}{'worst':>9}  under 1 s")
    for name, url in pages:
        timings = []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        timings = timings[1:]  # the first warms caches
        median, worst = statistics.median(timings), max(timings)
        print(f"{name:<26}{median:>9.1f}{worst:>9.1f}  {'yes' if worst < 1000 else 'NO'}")


def _today(field: str) -> str:
    """The admin's own "Today" link of DateFieldListFilter."""
    from datetime import timedelta
    from urllib.parse import urlencode

    from django.utils import timezone

    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    return urlencode({f"{field}__gte": str(start), f"{field}__lt": str(end)})


if __name__ == "__main__":
    main()
