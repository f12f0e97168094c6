"""What the event table's indexes cost a new event's two writes: `python -m bench.indexes`.

A new event is written twice in its table: its INSERT (committed on its own, before anything
is processed), then the UPDATE of its outcome. `status` is indexed, so that UPDATE cannot be
HOT: PostgreSQL writes a new entry in every index of the table, the trigram index for staff's
search among them. This measures what that costs, on a private PostgreSQL with initdb's
defaults (fsync and synchronous_commit on), against copies of the migrated table:

- **all indexes**: the table as migrated (`CREATE TABLE ... (LIKE ... INCLUDING ALL)`);
- **all but status**: the same without the status index, so the UPDATE is HOT;
- **keys only**: the primary key and the unique event id, nothing for the admin's lists,
  filters and search.

Each copy gets the same events (the bench's own, `bench.events`), each an autocommitted INSERT
then an autocommitted UPDATE of status, processed_at and attempt_count, as the product
writes them, through prepared statements. The copies take turns, round after round, and the
PostgreSQL backend's own CPU is read from /proc around each: per event, and as a ratio to
the keys-only copy.

    python -m bench.indexes                    # 3 rounds of 2,000 events per copy
    python -m bench.indexes --events 5000 --rounds 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TABLE = "bootwebhooks_inbox_webhookevent"
COPIES = {
    "all indexes": "INCLUDING ALL",
    "all but status": "INCLUDING ALL",
    "keys only": "INCLUDING DEFAULTS INCLUDING IDENTITY",
}
COLUMNS = (
    "stripe_id, type, api_version, livemode, stripe_created, account, object_id, customer_id, "
    "customer_email, body, source, received_at, headers, delivery_count, attempt_count, "
    "status, ignored_reason"
)


def make_copies(conn) -> None:
    for name, including in COPIES.items():
        table = _table(name)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (LIKE {TABLE} {including})")
        if "INCLUDING ALL" not in including:
            conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
            conn.execute(f"CREATE UNIQUE INDEX ON {table} (stripe_id)")
    # LIKE ... INCLUDING ALL names the copy's indexes itself: find the status one by its columns.
    (status_index,) = conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
        [_table("all but status"), "%(status, received_at DESC)%"],
    ).fetchone()
    conn.execute(f'DROP INDEX "{status_index}"')


def _table(name: str) -> str:
    return "bench_indexes_" + name.replace(" ", "_")


def backend_cpu(pid: int) -> float:
    """Seconds of CPU the PostgreSQL backend `pid` has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write(conn, table: str, rows: list[tuple]) -> float:
    """Insert then update each row, each statement committed on its own; the backend's CPU."""
    pid = conn.info.backend_pid
    insert = (
        f"INSERT INTO {table} ({COLUMNS}) VALUES "  # noqa: S608  (our own names)
        f"({', '.join(['%s'] * 17)}) RETURNING id"
    )
    update = (
        f"UPDATE {table} SET status = %s, processed_at = now(), attempt_count = 1 "  # noqa: S608
        "WHERE id = %s"
    )
    before = backend_cpu(pid)
    for row in rows:
        (pk,) = conn.execute(insert, row, prepare=True).fetchone()
        conn.execute(update, ["processed", pk], prepare=True)
    return backend_cpu(pid) - before


def event_rows(prefix: str, count: int) -> list[tuple]:
    from bench import events
    from bootwebhooks.inbox.ingest import parse_event

    rows = []
    for body in events.bodies(prefix, count):
        p = parse_event(body)
        rows.append((
            p.id, p.type, p.api_version, p.livemode, p.created, p.account, p.object_id,
            p.customer_id, p.customer_email, p.body, "webhook", p.created,
            json.dumps({"Stripe-Signature": "t=1,v1=<redacted>"}), 1, 0, "pending", "",
        ))  # fmt: skip
    return rows


def measure(database_url: str, events_per_round: int, rounds: int) -> dict[str, list[float]]:
    import psycopg

    per_event: dict[str, list[float]] = {name: [] for name in COPIES}
    with psycopg.connect(database_url, autocommit=True) as conn:
        make_copies(conn)
        for number in range(rounds):
            for name in COPIES:
                rows = event_rows(f"i{number}{name[0]}", events_per_round)
                per_event[name].append(write(conn, _table(name), rows) / len(rows) * 1000)
    # A backend publishes its table statistics as it exits: read them from another session.
    time.sleep(1)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in COPIES:
            hot_updates, updates = conn.execute(
                "SELECT n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables WHERE relname = %s",
                [_table(name)],
            ).fetchone()
            print(f"{name}: {hot_updates} of {updates} updates HOT")
    return per_event


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="per copy and round")
    parser.add_argument("--rounds", type=int, default=3)
    a = parser.parse_args()
    if a.events < 1 or a.rounds < 1:
        parser.error("--events and --rounds must be at least 1")
    import django

    from bench.run import server_env
    from bench.servers import ROOT, PrivatePostgres, free_port

    pg = PrivatePostgres(free_port(5800))
    pg.create()
    try:
        env = {**server_env(pg.url), "LOG_LEVEL": "ERROR"}
        os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        django.setup()
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        per_event = measure(pg.url, a.events, a.rounds)
    finally:
        pg.destroy()
    base = statistics.median(per_event["keys only"])
    print(f"\n{a.rounds} rounds of {a.events} events per copy, {started}\n")
    print("| the event table's indexes | PostgreSQL CPU ms per event (per round) | ratio |")
    print("| --- | --- | ---: |")
    for name, values in per_event.items():
        rounds = ", ".join(f"{v:.3f}" for v in values)
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} ({rounds}) | {median / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
