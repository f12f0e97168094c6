"""What the event table's indexes cost a new event's two writes: `python -m bench.indexes`.

A new event is written twice in its table: its INSERT (committed on its own, before anything
is processed), then the UPDATE of its outcome. `status` is indexed, so that UPDATE cannot be
HOT: PostgreSQL writes a new entry in every index of the table, the trigram index for staff's
search among them. This measures what that costs, on a private PostgreSQL with initdb's
defaults (fsync and synchronous_commit on), against copies of the migrated table:

- **all indexes**: the table as migrated (`CREATE TABLE ... (LIKE ... INCLUDING ALL)`);
- **all but status**: the same without the status index, so the UPDATE is HOT;
- **keys only**: the primary key and the unique event id, nothing for the admin's lists,
  filters and search (its constraints and defaults as migrated).

Each copy gets the same events (the bench's own, `bench.events`), each an
autocommitted INSERT then an autocommitted UPDATE of status, processed_at and attempt_count,
as the product writes them, through prepared statements; then a VACUUM of the copy, which
clears what the writes left for later (the trigram index's pending entries, the dead index
entries of non-HOT updates), with autovacuum off for the copies so that none of it happens
unmeasured. The copies take turns, round after round, and the CPU of every process of the
cluster (the backend, the WAL writer, the checkpointer...) is read from /proc around each:
per event, and as a ratio to the keys-only copy. The copies are small (thousands of rows):
on a table of millions each index is deeper and less of it is in memory, so these are the
indexes' cost at its lowest.

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

from bench.workloads import TICKS, tree_ticks

TABLE = "bootwebhooks_inbox_webhookevent"
COPIES = {
    "all indexes": "INCLUDING ALL",
    "all but status": "INCLUDING ALL",
    "keys only": "INCLUDING ALL EXCLUDING INDEXES",
}
STATUS_INDEX = "bw_inbox_status_received"
# The columns an event's INSERT writes; received_at is now(), as auto_now_add makes it.
COLUMNS = (
    "stripe_id", "type", "api_version", "livemode", "stripe_created", "account", "object_id",
    "customer_id", "customer_email", "body", "source", "headers", "delivery_count",
    "attempt_count", "status", "ignored_reason",
)  # fmt: skip


def make_copies(conn) -> None:
    for name, including in COPIES.items():
        table = _table(name)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (LIKE {TABLE} {including})")
        conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        if "EXCLUDING INDEXES" in including:
            conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
            conn.execute(f"CREATE UNIQUE INDEX ON {table} (stripe_id)")
    # LIKE names the copy's indexes itself: find the status index by what it indexes.
    (definition,) = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [STATUS_INDEX]
    ).fetchone()
    columns = definition[definition.index(" USING ") :]
    found = conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
        [_table("all but status"), "%" + columns.replace("_", "\\_")],
    ).fetchall()
    if len(found) != 1:
        raise RuntimeError(f"expected one copy of {STATUS_INDEX} ({columns}), found {found}")
    conn.execute(f'DROP INDEX "{found[0][0]}"')


def _table(name: str) -> str:
    return "bench_indexes_" + name.replace(" ", "_")


def cluster_cpu(postmaster: int) -> dict[int, int]:
    """CPU ticks used so far by each process of the cluster (the postmaster's tree)."""
    return tree_ticks([postmaster])


def write(conn, table: str, rows: list[tuple], postmaster: int) -> float:
    """Insert then update each row, each statement committed on its own, then VACUUM the
    table: the seconds of CPU the cluster's processes spent meanwhile."""
    insert = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}, received_at) "  # noqa: S608  (our names)
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))}, now()) RETURNING id"
    )
    update = (
        f"UPDATE {table} SET status = %s, processed_at = now(), attempt_count = 1 "  # noqa: S608
        "WHERE id = %s"
    )
    before = cluster_cpu(postmaster)
    for row in rows:
        (pk,) = conn.execute(insert, row, prepare=True).fetchone()
        conn.execute(update, ["processed", pk], prepare=True)
    conn.execute(f"VACUUM {table}")
    after = cluster_cpu(postmaster)
    # A process that exited meanwhile is not counted (autovacuum is off for the copies).
    ticks = sum(used - before.get(pid, 0) for pid, used in after.items())
    return ticks / TICKS


def event_rows(prefix: str, count: int) -> list[tuple]:
    from bench import events
    from bootwebhooks.inbox.ingest import parse_event

    rows = []
    for body in events.bodies(prefix, count):
        p = parse_event(body)
        rows.append((
            p.id, p.type, p.api_version, p.livemode, p.created, p.account, p.object_id,
            p.customer_id, p.customer_email, p.body, "webhook",
            json.dumps({"Stripe-Signature": "t=1,v1=<redacted>"}), 1, 0, "pending", "",
        ))  # fmt: skip
    return rows


def measure(
    database_url: str, postmaster: int, events_per_round: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    import psycopg

    per_event: dict[str, list[float]] = {name: [] for name in COPIES}
    with psycopg.connect(database_url, autocommit=True) as conn:
        make_copies(conn)
        for number in range(rounds):
            for name in COPIES:
                rows = event_rows(f"i{number}", events_per_round)
                cpu = write(conn, _table(name), rows, postmaster)
                per_event[name].append(cpu / len(rows) * 1000)
    return per_event, hot_shares(database_url, events_per_round * rounds)


def hot_shares(database_url: str, updates: int) -> dict[str, float]:
    """Each copy's share of HOT updates, once the writing session's statistics are out (a
    backend publishes them at most once a second, and as it exits)."""
    import psycopg

    deadline = time.monotonic() + 10
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT relname, n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables "
                "WHERE relname = ANY(%s)",
                [[_table(name) for name in COPIES]],
            ).fetchall()
            counted = {relname: (hot, total) for relname, hot, total in rows}
            totals = [counted.get(_table(name), (0, 0)) for name in COPIES]
            if all(total >= updates for _, total in totals) or time.monotonic() > deadline:
                break
            conn.execute("SELECT pg_stat_clear_snapshot()")
            time.sleep(0.2)
    return {name: hot / max(1, total) for name, (hot, total) in zip(COPIES, totals, strict=True)}


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
        per_event, hot = measure(pg.url, pg.postmaster_pid(), a.events, a.rounds)
    finally:
        pg.destroy()
    base = statistics.median(per_event["keys only"])
    print(f"{a.rounds} rounds of {a.events} events per copy, {started}\n")
    print("| the event table's indexes | PostgreSQL CPU ms per event (per round) | ratio | HOT |")
    print("| --- | --- | ---: | ---: |")
    for name, values in per_event.items():
        rounds = ", ".join(f"{v:.3f}" for v in values)
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} ({rounds}) | {median / base:.2f} | {hot[name]:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
