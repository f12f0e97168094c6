"""Where a new event's cost goes: `make profile` (or `python -m bench.profile`).

On a private PostgreSQL with pg_stat_statements and the gunicorn `make bench` starts (same
settings: README's defaults), for the bench's membership mix of new events:

1. Statements per event type: every member's first event is sent, then every member's
   second, and so on, so each step is one event type in order; PostgreSQL's statement
   statistics are reset before each step. Each statement is one round trip (BEGIN, COMMIT
   and savepoints included).
2. CPU: wrk replays new events for `--seconds` while py-spy samples every worker (on-CPU
   samples only, `--nonblocking`); top functions by self time, and the time by layer.

Prints a summary and writes it to var/bench/profile.md, with py-spy's collapsed stacks
(var/bench/profile-<worker>.txt: `flamegraph.pl` or speedscope read them).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):  # `python bench/profile.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import events
from bench.reliability import post
from bench.run import OUT, ensure_tools, server_env
from bench.servers import ROOT, Gunicorn, PrivatePostgres, free_port
from bench.workloads import TICKS, run_wrk, tree_ticks

# Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: PostgreSQL checks them at COMMIT with
# queries of this shape, which pg_stat_statements lists as top-level statements. They cost
# the server work but no round trip.
FOREIGN_KEY_CHECK = re.compile(r"^SELECT 1 FROM ONLY .* FOR KEY SHARE OF x$")
# Statements the product sends in the same query as another (inbox.statements: client-side
# binding allows several in one): the SET LOCAL bounds (inbox.timeouts,
# WebhookEvent.count_delivery), the attempt's INSERT with the event's status UPDATE
# (inbox.dispatch), a membership change's history row with its UPDATE, the reads of an
# event's users' payments and subscriptions with their memberships' locks (memberships.models),
# and an invoice's prices with its charges (payments.handlers.record_invoice; the written-out
# price read, `catalogue.prices_read`, is sent nowhere else in the mix). They are statements
# PostgreSQL runs, but no round trip of their own.
RIDES_ALONG = re.compile(
    r'^(SET LOCAL |INSERT INTO "bootwebhooks_(inbox_attempt|memberships_membershipchange)" '
    r'|SELECT .* FROM "bootwebhooks_payments_(payment|subscription)" WHERE "user_id" IN \(SELECT '
    r'|SELECT .* FROM "bootwebhooks_payments_price" WHERE "price_id" IN \()'
)
STATEMENTS = ("shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track_utility=on")
# pg_stat_statements lists a statement the apps prepared (inbox.statements) under the text of
# its PREPARE; its runs, by EXECUTE, count there.
_PREPARED = re.compile(r"^PREPARE \w+ AS ")


def written(query: str) -> str:
    """A statement's text on one line, as written (without the PREPARE that named it)."""
    return _PREPARED.sub("", " ".join(query.split()))


# Where a sampled frame's code lives, first match wins (paths as py-spy prints them in full).
LAYERS = (
    ("psycopg (driver)", ("/psycopg/", "/psycopg_binary/")),
    ("Django ORM", ("/django/db/",)),
    ("DRF", ("/rest_framework/",)),
    ("Django (request, middleware, rest)", ("/django/",)),
    ("stripe-python", ("/stripe/",)),
    ("prometheus-client", ("/prometheus_client/",)),
    ("gunicorn", ("/gunicorn/",)),
    ("bootwebhooks.inbox", ("/bootwebhooks/inbox/",)),
    ("payments", ("/payments/",)),
    ("memberships", ("/memberships/",)),
    ("json, hmac, stdlib", ("/lib/python3",)),
)


def steps(members: int, first_user: int, prefix: str) -> list[tuple[str, list[bytes]]]:
    """The members' events as steps of one type each, in an order that keeps every member's
    events in their own order (step k holds members' k-th events, split by type)."""
    now = int(time.time())
    by_step: dict[tuple[int, str], list[bytes]] = defaultdict(list)
    for n in range(members):
        for position, evt in enumerate(events.member_events(prefix, n, now, first_user)):
            by_step[(position, evt["type"])].append(events.encode(evt))
    return [(f"{kind} (event {position + 1})", bodies)
            for (position, kind), bodies in sorted(by_step.items())]  # fmt: skip


def statements_per_type(
    pg: PrivatePostgres, stats, server: Gunicorn, members: int, prefix: str, first: int
) -> list[dict]:
    oid = bench_oid(stats, pg)
    with pg.connect() as db:
        events.create_users(db, first, members)
    rows = []
    with ThreadPoolExecutor(8) as pool:
        for label, bodies in steps(members, first, prefix):
            stats.execute("SELECT pg_stat_statements_reset()")
            answers = Counter(
                pool.map(lambda b: post(server, b, events.signature_header(b)), bodies)
            )
            per_statement = stats.execute(
                "SELECT calls, query FROM pg_stat_statements WHERE dbid = %s ORDER BY calls DESC",
                [oid],
            ).fetchall()
            checks = sum(c for c, q in per_statement if FOREIGN_KEY_CHECK.match(written(q)))
            total = sum(calls for calls, _ in per_statement) - checks
            riders = sum(c for c, q in per_statement if RIDES_ALONG.match(written(q)))
            rows.append({
                "step": label,
                "events": len(bodies),
                "answers": dict(answers),
                "statements per event": total / len(bodies),
                "round trips per event": (total - riders) / len(bodies),
                "foreign-key checks per event": checks / len(bodies),
                "statements": [(c / len(bodies), written(q)) for c, q in per_statement],
            })  # fmt: skip
            print(
                f"  {label}: {(total - riders) / len(bodies):.1f} round trips "
                f"({total / len(bodies):.1f} statements) per event, {dict(answers)}"
            )
    return rows


def bench_oid(stats, pg: PrivatePostgres) -> int:
    (oid,) = stats.execute("SELECT oid FROM pg_database WHERE datname = %s", [pg.dbname]).fetchone()
    return oid


def cpu_profile(pg, stats, server: Gunicorn, seconds: int, rate: int, workdir: Path) -> dict:
    count = 400 * seconds  # more than 8 connections can send in the time
    first = 2_000_000
    with pg.connect() as db:
        events.create_users(db, first, count)
    file = workdir / "profile.requests"
    events.write_requests(file, events.WEBHOOK, events.bodies("pc", count, first_user=first))
    workers = server.worker_pids()
    spies = []
    for pid in workers:
        out = OUT / f"profile-{pid}.txt"
        spies.append((out, subprocess.Popen(
            [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record",
             "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate),
             "--nonblocking", "--gil", "--format", "raw", "--nolineno", "--full-filenames",
             "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )))  # fmt: skip
    stats.execute("SELECT pg_stat_statements_reset()")
    postmaster = pg.postmaster_pid()
    gunicorn_before, pg_before = tree_ticks(workers), tree_ticks([postmaster])
    result = run_wrk("profile", server.base_url, file, seconds=seconds, connections=8,
                     threads=2, cycle=False)  # fmt: skip
    gunicorn_cpu = sum(tree_ticks(workers).values()) - sum(gunicorn_before.values())
    pg_cpu = sum(tree_ticks([postmaster]).values()) - sum(pg_before.values())
    for _, spy in spies:
        _, error = spy.communicate(timeout=seconds + 60)
        if spy.returncode:  # py-spy needs ptrace: root, or CAP_SYS_PTRACE in a container
            print(f"py-spy failed ({spy.returncode}): {error.strip()[-300:]}", file=sys.stderr)
    per_statement = stats.execute(
        "SELECT calls, total_exec_time, query FROM pg_stat_statements WHERE dbid = %s",
        [bench_oid(stats, pg)],
    ).fetchall()
    calls = sum(
        c
        for c, _, q in per_statement
        if not FOREIGN_KEY_CHECK.match(written(q)) and not RIDES_ALONG.match(written(q))
    )
    exec_ms = sum(ms for _, ms, _ in per_statement)
    samples: Counter = Counter()
    for out, _ in spies:
        if out.exists():
            for line in out.read_text().splitlines():
                stack, _, n = line.rpartition(" ")
                samples[stack] += int(n)
    return {
        "requests": result.requests,
        "rps": result.rps,
        "non-2xx": result.s4xx + result.s5xx,
        "gunicorn CPU ms per event": gunicorn_cpu / TICKS * 1000 / max(1, result.requests),
        "PostgreSQL CPU ms per event": pg_cpu / TICKS * 1000 / max(1, result.requests),
        "round trips per event": calls / max(1, result.requests),
        "PostgreSQL execution ms per event": exec_ms / max(1, result.requests),
        **summarise(samples),
    }


def summarise(samples: Counter) -> dict:
    """Top functions by self samples, the product's own functions (and the request's entry
    points) by total samples, and self samples by layer."""
    total = sum(samples.values()) or 1
    own: Counter = Counter()
    inclusive: Counter = Counter()
    layers: Counter = Counter()
    for stack, n in samples.items():
        frames = stack.split(";")
        leaf = frames[-1]
        own[short(leaf)] += n
        layers[layer(leaf)] += n
        for frame in {short(f) for f in frames}:
            inclusive[frame] += n
    return {
        "samples": total,
        "self": [(f, n / total) for f, n in own.most_common(25)],
        "total": [
            (f, n / total) for f, n in inclusive.most_common() if f.split(" (")[-1].startswith(OURS)
        ][:30],
        "layers": [(name, n / total) for name, n in layers.most_common()],
    }


# The frames the total-time table lists: the product's own code and where a request enters.
OURS = ("bootwebhooks/", "payments/", "memberships/", "django/core/handlers/wsgi.py",
        "rest_framework/views.py")  # fmt: skip


def layer(frame: str) -> str:
    path = frame.rpartition("(")[2]
    return next((name for name, marks in LAYERS if any(m in path for m in marks)), "other")


def short(frame: str) -> str:
    """`f (/…/site-packages/django/db/models/query.py)` -> `f (django/db/models/query.py)`."""
    name, _, path = frame.rpartition(" (")
    for mark in ("site-packages/", str(ROOT) + "/", "/lib/python3.11/"):
        if mark in path:
            path = path.split(mark, 1)[1]
    return f"{name} ({path}"


def render(report: dict) -> str:
    cpu = report["cpu"]
    lines = [
        f"Profile of new events, {report['started']}, commit {report['commit']}: "
        f"{cpu['requests']} events in {report['seconds']} s ({cpu['rps']:.0f}/s, "
        f"{cpu['non-2xx']} non-2xx) with py-spy sampling all {report['workers']} workers at "
        f"{report['rate']} Hz, samples holding the GIL only (its cost is in these figures). "
        "Load average before "
        f"{'/'.join(f'{x:.2f}' for x in report['load_average_before'])}.",
        "",
        f"Per new event: gunicorn CPU {cpu['gunicorn CPU ms per event']:.1f} ms, PostgreSQL CPU "
        f"{cpu['PostgreSQL CPU ms per event']:.1f} ms, {cpu['round trips per event']:.1f} "
        f"round trips (statements executing {cpu['PostgreSQL execution ms per event']:.2f} ms, "
        "lock waits included).",
        "",
        "| event type (position in a member's year) | events | round trips per event "
        "| statements per event | foreign-key checks at COMMIT |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in report["types"]:
        lines.append(
            f"| {row['step']} | {row['events']} | {row['round trips per event']:.1f} "
            f"| {row['statements per event']:.1f} | {row['foreign-key checks per event']:.1f} |"
        )
    lines += ["", "| CPU by layer (self time) | share |", "| --- | ---: |"]
    lines += [f"| {name} | {share:.0%} |" for name, share in cpu["layers"]]
    lines += ["", "| top functions by self time | share |", "| --- | ---: |"]
    lines += [f"| `{f}` | {share:.1%} |" for f, share in cpu["self"][:15]]
    lines += ["", "| the product's functions by total time | share |", "| --- | ---: |"]
    lines += [f"| `{f}` | {share:.0%} |" for f, share in cpu["total"]]
    checkout = next((r for r in report["types"] if r["step"].startswith("checkout")), None)
    if checkout:
        lines += ["", f"Statements of one `{checkout['step']}`:", "", "| per event | statement |",
                  "| ---: | --- |"]  # fmt: skip
        lines += [
            f"| {n:.1f} | {'(foreign-key check at COMMIT) ' * bool(FOREIGN_KEY_CHECK.match(q))}"
            f"`{q[:100]}` |"
            for n, q in checkout["statements"]
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20, help="of sampled replay")
    parser.add_argument("--members", type=int, default=100, help="for statements per type")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    args = parser.parse_args()
    ensure_tools()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("profile-*.txt"):  # an earlier run's stacks
        old.unlink()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    report = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "seconds": args.seconds,
        "workers": args.workers,
        "rate": args.rate,
        "load_average_before": __import__("os").getloadavg(),
    }
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="bootwebhooks-profile-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        pg = PrivatePostgres(free_port(5644), settings=STATEMENTS)
        stack.callback(pg.destroy)
        pg.create()
        env = server_env(pg.url)
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        stats = stack.enter_context(pg.connect("postgres"))
        stats.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        server = Gunicorn(free_port(8400), args.workers, env, OUT / "profile-gunicorn.log")
        stack.callback(server.stop)
        server.start()
        print("statements per event type", flush=True)
        statements_per_type(pg, stats, server, 20, "pw", 500_000)  # warm-up: every path loaded
        report["types"] = statements_per_type(pg, stats, server, args.members, "ps", 1_000_000)
        print(f"CPU profile: {args.seconds} s of new events", flush=True)
        report["cpu"] = cpu_profile(pg, stats, server, args.seconds, args.rate, workdir)
    text = render(report)
    print("\n" + text)
    (OUT / "profile.md").write_text(text + "\n")
    (OUT / "profile.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
