"""One command for the whole bench: `make bench` (or `python -m bench.run`).

1. Start a private PostgreSQL cluster (temp dir, free port) and migrate it.
2. Start gunicorn (`bootwebhooks.wsgi:application`, bench settings, fixed sync workers) with
   the settings README.md gives a production deployment: nothing from the caller's
   environment, nothing tuned for the bench (`--setting` measures a departure, and says so).
3. Replay Stripe-signed requests with wrk for each workload, printing requests/s, p50, p99
   and the ratios the issue sets as goals; dj-stripe's own webhook view is one baseline
   (bench/djstripe_baseline.py).
4. The reliability runs (bench/reliability.py) against a gunicorn with the bench handler.
5. Stop everything it started, whatever happens.
"""

import argparse
import atexit
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import djstripe_baseline, events, reliability
from bench.servers import ROOT, Gunicorn, PrivatePostgres, free_port, postgres_bindir
from bench.workloads import Result, flush_stats, reconnect_workers, run_wrk, write_snapshot

OUT = ROOT / "var" / "bench"
FLOOR = "framework floor (read body)"
DRF = "diagnostic: DRF floor (read body)"
NAIVE = "naive receiver (verify + get_or_create)"
UNIQUE = "bootwebhooks: unique events"
DUP = "bootwebhooks: duplicates"
BAD = "bootwebhooks: bad signatures"
BOUND = "diagnostic: one round trip (verify + count a delivery)"
HANDLED = "bootwebhooks: unique, bench handler (dispatch path)"
DJSTRIPE = "dj-stripe 2.11 webhook view (unique events)"
QUEUED = "diagnostic: queued mode, acknowledged (no worker running)"
QUEUED_ROUNDS = 3
QUEUED_WORKERS = 2  # one per core
DRAIN_GOAL = "queued mode: workers drain >= 1.0x the inline rate"


def combine(results: list[Result]) -> Result:
    """One workload over several rounds: total requests over total time, median latencies."""
    return Result(
        name=results[0].name,
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p90_ms=statistics.median(r.p90_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
        s2xx=sum(r.s2xx for r in results),
        s4xx=sum(r.s4xx for r in results),
        s5xx=sum(r.s5xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        exhausted=sum(r.exhausted for r in results),
        other_cpu=statistics.mean(r.other_cpu for r in results),
        server_cpu_ms=statistics.median(r.server_cpu_ms for r in results),
    )


def ensure_tools(*more: str) -> None:
    """wrk, the PostgreSQL server binaries and the programs `more`, installed from Debian if
    missing and we can."""
    missing = [program for program in ("wrk", *more) if shutil.which(program) is None]
    if postgres_bindir() is None:
        missing.append("postgresql")
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit(f"bench needs {' and '.join(missing)}: install them (e.g. apt-get install -y wrk)")
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True)


# Environment variables the product's settings read (README's table): none is inherited, so
# the server runs on README's defaults plus what a deployment must set.
PRODUCT_SETTINGS = ("DJANGO_", "STRIPE_", "DATABASE_", "WEBHOOK_", "MEMBERSHIP_", "TASKS_",
                    "HEALTH_", "METRICS_", "LOG_LEVEL", "PROMETHEUS_", "BENCH_")  # fmt: skip
# Departures from README's defaults asked for with --setting, for every server of the run.
overrides: dict[str, str] = {}


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(PRODUCT_SETTINGS)}
    # What docs/OPERATIONS.md tells a gunicorn deployment: an empty metrics directory per deploy.
    metrics = tempfile.mkdtemp(prefix="bootwebhooks-bench-metrics-")
    atexit.register(shutil.rmtree, metrics, ignore_errors=True)
    return {
        **base,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 50,  # the starred settings, as README says
        "DATABASE_URL": database_url,
        "STRIPE_WEBHOOK_SECRETS": events.SECRET,
        "PROMETHEUS_MULTIPROC_DIR": metrics,
        "PYTHONPATH": str(ROOT),
        **overrides,
        **extra,
    }


def setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def fmt_table(results: list[Result]) -> str:
    lines = [
        "| workload | requests/s | p50 ms | p99 ms | p99/p50 | server CPU ms/req | 2xx | 4xx "
        "| 5xx | socket errors | other load (cores) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.p99_ms / r.p50_ms:.2f} | {r.server_cpu_ms:.2f} | {r.s2xx} | {r.s4xx} | "
            f"{r.s5xx} | {r.socket_errors} | "
            f"{r.other_cpu:.2f} |"
        )
    return "\n".join(lines)


class Bench:
    def __init__(self, args: argparse.Namespace, pg: PrivatePostgres, workdir: Path) -> None:
        self.args = args
        self.pg = pg
        self.workdir = workdir
        self.db = pg.connect()
        self.next_user = 1
        self.stripe: djstripe_baseline.StripeObjects | None = None  # set when dj-stripe runs

    def users(self, count: int) -> int:
        """Create `count` fresh users (enough for `count` events) and return the first id, so
        the unique workloads' events reach real members, as in production."""
        first, self.next_user = self.next_user, self.next_user + count
        events.create_users(self.db, first, count)
        return first

    def wrk(self, name: str, server: Gunicorn, file: Path, *, cycle: bool) -> Result:
        postmaster = self.pg.postmaster_pid()
        result = run_wrk(
            name,
            server.base_url,
            file,
            seconds=self.args.seconds,
            connections=self.args.connections,
            threads=self.args.threads,
            cycle=cycle,
            own_roots=[postmaster] if postmaster else [],
        )
        print(
            f"  {name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, 2xx {result.s2xx}, 4xx {result.s4xx}, "
            f"5xx {result.s5xx}, server CPU {result.server_cpu_ms:.2f} ms/req, "
            f"other load {result.other_cpu:.2f} cores",
            flush=True,
        )
        if result.exhausted:
            raise RuntimeError(f"{name}: ran out of unique events; raise --unique-factor")
        return result

    def unique_count(self) -> int:
        """Events for one unique workload: never repeated, sized from the best floor seen,
        which bounds any workload's rate."""
        a = self.args
        return int(self.floor_rps * a.seconds * a.unique_factor) + 1000

    def requests(self, name: str, url_path: str, bodies, secret: str = events.SECRET) -> Path:
        path = self.workdir / f"{name}.requests"
        events.write_requests(path, url_path, bodies, secret)
        return path

    def djstripe_requests(self, name: str, prefix: str, count: int) -> Path:
        """Unique events for dj-stripe's view, their objects given to the Stripe stand-in."""
        bodies = list(events.bodies(prefix, count))
        self.stripe.add_events([json.loads(b) for b in bodies])
        return self.requests(name, djstripe_baseline.URL, bodies)

    def warm_up(self, server: Gunicorn, *paths: str) -> None:
        for n, url_path in enumerate(paths):
            if url_path == djstripe_baseline.URL:
                file = self.djstripe_requests(f"warm{n}", f"wd{n}x", 400)
                run_wrk("warm", server.base_url, file, seconds=2,
                        connections=self.args.connections, threads=self.args.threads,
                        cycle=False)  # fmt: skip
                continue
            file = self.requests(f"warm{n}", url_path, events.bodies(f"w{n}x", 400))
            run_wrk("warm", server.base_url, file, seconds=2, connections=self.args.connections,
                    threads=self.args.threads, cycle=True)  # fmt: skip

    def round(self, server: Gunicorn, r: int) -> dict:
        """Every workload once, back to back, so their ratios share the machine's weather."""
        a = self.args
        print(f"round {r}", flush=True)
        out: dict = {}
        # Order: each ratio's two sides run next to each other (naive, unique | floor, dup, bad).
        unique_count = self.unique_count()
        naive_bodies = events.bodies(f"n{r}x", unique_count)
        out["naive"] = self.wrk(
            NAIVE, server, self.requests("naive", events.NAIVE, naive_bodies), cycle=False
        )
        unique_bodies = events.bodies(f"u{r}x", unique_count, first_user=self.users(unique_count))
        out["unique"] = self.wrk(
            UNIQUE, server, self.requests("unique", events.WEBHOOK, unique_bodies), cycle=False
        )
        if self.stripe is not None:
            # Sized from the naive receiver's rate: dj-stripe is slower than that.
            count = int(out["naive"].rps * a.seconds * a.unique_factor) + 500
            file = self.djstripe_requests("djstripe", f"d{r}x", count)
            out["djstripe"] = self.wrk(DJSTRIPE, server, file, cycle=False)
        floor_file = self.requests("floor", events.FLOOR, events.bodies("f", 2000))
        out["floor"] = self.wrk(FLOOR, server, floor_file, cycle=True)
        self.floor_rps = max(self.floor_rps, out["floor"].rps)
        dup_bodies = [
            row[0].encode()
            for row in self.db.execute(
                "SELECT body FROM bootwebhooks_inbox_webhookevent "
                "WHERE stripe_id LIKE %s ORDER BY id LIMIT %s",
                [f"evt\\_u{r}x%", a.duplicate_pool],
            )
        ]
        hot_before = self.hot_updates(server)
        out["dup"] = self.wrk(
            DUP, server, self.requests("duplicates", events.WEBHOOK, dup_bodies), cycle=True
        )
        hot_after = self.hot_updates(server)
        out["dup_updates"] = [
            after - before for after, before in zip(hot_after, hot_before, strict=True)
        ]
        bound_file = self.requests("bound", events.ONE_ROUND_TRIP, dup_bodies)
        out["bound"] = self.wrk(BOUND, server, bound_file, cycle=True)
        if out["bound"].s4xx + out["bound"].s5xx:  # a bound that fails measures nothing
            raise RuntimeError(f"{BOUND}: answered non-2xx, see {server.log}")
        bad_file = self.requests(
            "bad", events.WEBHOOK, events.bodies("b", 2000), secret=events.WRONG_SECRET
        )
        before = write_snapshot(self.db, self.reconnect(server))
        out["bad"] = self.wrk(BAD, server, bad_file, cycle=True)
        after = write_snapshot(self.db, self.reconnect(server), since=before)
        out["bad_writes"] = {k: after[k] - before[k] for k in before if k != "at"}
        drf_file = self.requests("drf-floor", events.DRF_FLOOR, events.bodies("f", 2000))
        out["drf"] = self.wrk(DRF, server, drf_file, cycle=True)
        return out

    def reconnect(self, server: Gunicorn) -> Callable[[], None]:
        if server.env.get("DATABASE_CONN_MAX_AGE") == "0":  # a session per request: none kept
            return lambda: None
        return partial(reconnect_workers, self.db, server.base_url, self.args.workers)

    def hot_updates(self, server: Gunicorn) -> tuple[int, int]:
        """(updates, HOT updates) of the event table; stats flushed first."""
        flush_stats(self.db, self.reconnect(server))
        return self.db.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
            "WHERE relname = 'bootwebhooks_inbox_webhookevent'"
        ).fetchone()

    def throughput(self, server: Gunicorn) -> dict:
        a = self.args
        print("warm-up", flush=True)
        self.warm_up(server, events.WEBHOOK, events.NAIVE)
        if self.stripe is not None:
            self.warm_up(server, djstripe_baseline.URL)
        floor_file = self.requests("floor", events.FLOOR, events.bodies("f", 2000))
        calibrate = run_wrk("calibrate", server.base_url, floor_file, seconds=3,
                            connections=a.connections, threads=a.threads, cycle=True)  # fmt: skip
        self.floor_rps = calibrate.rps
        rounds = [self.round(server, r) for r in range(1, a.rounds + 1)]
        keys = ["floor", "drf", "naive", "unique", "dup", "bound", "bad"]
        if self.stripe is not None:
            keys.insert(4, "djstripe")
        results = {k: combine([rd[k] for rd in rounds]) for k in keys}
        per_round = {
            "diagnostic: DRF floor / floor": [rd["drf"].rps / rd["floor"].rps for rd in rounds],
            "new events / naive": [rd["unique"].rps / rd["naive"].rps for rd in rounds],
            **(
                {"new events / dj-stripe": [rd["unique"].rps / rd["djstripe"].rps for rd in rounds]}
                if self.stripe is not None
                else {}
            ),
            "duplicates / floor": [rd["dup"].rps / rd["floor"].rps for rd in rounds],
            "bad signatures / floor": [rd["bad"].rps / rd["floor"].rps for rd in rounds],
            "diagnostic: duplicates / DRF floor": [rd["dup"].rps / rd["drf"].rps for rd in rounds],
            "diagnostic: one round trip / floor": [
                rd["bound"].rps / rd["floor"].rps for rd in rounds
            ],
            "diagnostic: duplicates / one round trip": [
                rd["dup"].rps / rd["bound"].rps for rd in rounds
            ],
            "diagnostic: bad signatures / DRF floor": [
                rd["bad"].rps / rd["drf"].rps for rd in rounds
            ],
        }
        ratios = {k: statistics.median(v) for k, v in per_round.items()}
        # Server CPU per request barely moves with other tenants' load: the same comparisons
        # as capacity if CPU were the only limit (naive cost / our cost, floor cost / ours).
        cpu = {k: statistics.median(rd[k].server_cpu_ms for rd in rounds) for k in keys}
        cpu_ratios = {
            "new events / naive": cpu["naive"] / cpu["unique"],
            **(
                {"new events / dj-stripe": cpu["djstripe"] / cpu["unique"]}
                if self.stripe is not None
                else {}
            ),
            "duplicates / floor": cpu["floor"] / cpu["dup"],
            "bad signatures / floor": cpu["floor"] / cpu["bad"],
            "diagnostic: duplicates / DRF floor": cpu["drf"] / cpu["dup"],
            "diagnostic: one round trip / floor": cpu["floor"] / cpu["bound"],
            "diagnostic: duplicates / one round trip": cpu["bound"] / cpu["dup"],
            "diagnostic: bad signatures / DRF floor": cpu["drf"] / cpu["bad"],
        }
        bad_writes = {k: sum(rd["bad_writes"][k] for rd in rounds) for k in rounds[0]["bad_writes"]}
        dup_updates = [sum(rd["dup_updates"][i] for rd in rounds) for i in (0, 1)]
        tails = {  # every workload but dj-stripe's, whose tail is not ours to keep
            results[k].name: results[k].p99_ms / results[k].p50_ms for k in keys if k != "djstripe"
        }
        unique, naive, dup, bad = (results[k] for k in ("unique", "naive", "dup", "bad"))
        bad_db_writes = (
            bad_writes["tuples_inserted"] + bad_writes["tuples_updated"]
            + bad_writes["tuples_deleted"] + bad_writes["events"] + bad_writes["attempts"]
        )  # fmt: skip
        versus_djstripe = ratios.get("new events / dj-stripe")
        goals = [
            ("new events >= 0.35x naive", ratios["new events / naive"] >= 0.35,
             f"{ratios['new events / naive']:.3f}x"),
            ("new events >= 8x dj-stripe",
             None if versus_djstripe is None else versus_djstripe >= 8,
             "not measured (--skip-djstripe)" if versus_djstripe is None
             else f"{versus_djstripe:.2f}x"),
            ("duplicates >= 0.5x floor", ratios["duplicates / floor"] >= 0.5,
             f"{ratios['duplicates / floor']:.3f}x (one round trip alone: "
             f"{ratios['diagnostic: one round trip / floor']:.3f}x)"),
            ("duplicates >= 0.9x the one-round-trip bound",
             ratios["diagnostic: duplicates / one round trip"] >= 0.9,
             f"{ratios['diagnostic: duplicates / one round trip']:.3f}x"),
            ("bad signatures >= 0.8x floor", ratios["bad signatures / floor"] >= 0.8,
             f"{ratios['bad signatures / floor']:.3f}x"),
            ("bad signatures: zero database writes", bad_db_writes == 0
             and bad_writes["sessions"] == 0,
             f"{bad_db_writes} rows written, {bad_writes['sessions']} sessions opened"),
            *[
                (f"p99 < 4x p50 ({name})", tails[name] < 4, f"{tails[name]:.2f}x")
                for name in tails
            ],
            ("new-event workloads: only 2xx",
             unique.s4xx + unique.s5xx + naive.s4xx + naive.s5xx == 0,
             f"{unique.s4xx + unique.s5xx + naive.s4xx + naive.s5xx} non-2xx"),
            ("duplicates: only 2xx", dup.s4xx + dup.s5xx == 0,
             f"{dup.s4xx + dup.s5xx} non-2xx"),
            ("bad signatures: only 400", bad.s2xx + bad.s5xx == 0 and bad.s4xx == bad.requests,
             f"{bad.s4xx} of {bad.requests} were 4xx"),
        ]  # fmt: skip
        stored = self.db.execute(
            "SELECT status, count(*) FROM bootwebhooks_inbox_webhookevent "
            "WHERE stripe_id LIKE 'evt\\_u%%' "
            "GROUP BY status"
        ).fetchall()
        (naive_rows,) = self.db.execute(
            "SELECT count(*) FROM bench_naiveevent WHERE stripe_id LIKE 'evt\\_n%%'"
        ).fetchone()
        djstripe = None
        if self.stripe is not None:
            djstripe = {
                "answered 2xx": results["djstripe"].s2xx,
                "non-2xx": results["djstripe"].s4xx + results["djstripe"].s5xx,
                **djstripe_baseline.outcome(self.db, "d_x"),
            }
        return {
            "results": list(results.values()),
            "djstripe": djstripe,
            "ratios": ratios,
            "ratios_per_round": per_round,
            "cpu_ratios": cpu_ratios,
            "goals": goals,
            "unique_2xx": unique.s2xx,
            "unique_stored": dict(stored),
            "naive_2xx": naive.s2xx,
            "naive_rows": naive_rows,
            "bad_signature_db_delta": bad_writes,
            "duplicate_updates": {"updates": dup_updates[0], "hot": dup_updates[1]},
        }

    def queued(self, server: Gunicorn, inline_rps: float) -> dict:
        """Diagnostic: queued mode (WEBHOOK_PROCESSING=queued) on its own gunicorn.

        First what Stripe would see: acknowledgements (the event and its task stored, 202)
        against the naive receiver, in alternating rounds with no worker running. Then the
        other half of the bill: `run_webhook_worker --batch`, one per core, drain everything
        those rounds queued; their rate is compared with the inline webhook's unique rate.
        """
        self.warm_up(server, events.WEBHOOK, events.NAIVE)
        rounds = []
        for r in range(1, QUEUED_ROUNDS + 1):
            count = self.unique_count()
            naive_file = self.requests("naive", events.NAIVE, events.bodies(f"qn{r}x", count))
            naive = self.wrk(NAIVE, server, naive_file, cycle=False)
            queued_bodies = events.bodies(f"q{r}x", count, first_user=self.users(count))
            queued_file = self.requests("queued", events.WEBHOOK, queued_bodies)
            rounds.append((naive, self.wrk(QUEUED, server, queued_file, cycle=False)))
        pattern = "evt\\_q_x%"  # evt_q1x..., not the naive receiver's evt_qn1x...
        (waiting,) = self.db.execute(
            "SELECT count(*) FROM bootwebhooks_inbox_webhookevent "
            "WHERE stripe_id LIKE %s AND status = %s",
            [pattern, "pending"],
        ).fetchone()
        print(f"draining {waiting} queued events with {QUEUED_WORKERS} workers", flush=True)
        started = time.monotonic()
        command = [sys.executable, "manage.py", "run_webhook_worker", "--batch",
                   "--no-startup-delay", "--interval", "0.1"]  # fmt: skip
        with open(server.log, "ab") as log:
            workers = [
                subprocess.Popen(command, cwd=ROOT, env=server.env, stdout=log, stderr=log)
                for _ in range(QUEUED_WORKERS)
            ]
            try:
                for worker in workers:
                    worker.wait(timeout=1800)
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.kill()
                        worker.wait()
        drained = time.monotonic() - started
        stored = dict(
            self.db.execute(
                "SELECT status, count(*) FROM bootwebhooks_inbox_webhookevent "
                "WHERE stripe_id LIKE %s "
                "GROUP BY status",
                [pattern],
            ).fetchall()
        )
        ratios = [q.rps / n.rps for n, q in rounds]
        return {
            "result": combine([q for _, q in rounds]),
            "acknowledged / naive": statistics.median(ratios),
            "per_round": ratios,
            "drained": waiting,
            "drain_seconds": drained,
            "drain_rps": waiting / drained,
            "drain / inline": waiting / drained / inline_rps,
            "stored": stored,
            "worker_exit_codes": [w.returncode for w in workers],
        }

    def handled_throughput(self, server: Gunicorn) -> Result:
        """Unique events through dispatch (a one-row bench handler): the path real handlers take."""
        count = self.unique_count()
        self.warm_up(server, events.WEBHOOK)
        file = self.requests("handled", events.WEBHOOK, events.bodies("h", count))
        return self.wrk(HANDLED, server, file, cycle=False)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5, help="per workload and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all workloads")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (2 x cores)")
    parser.add_argument("--unique-factor", type=float, default=1.3,
                        help="unique events generated per (floor req/s x seconds)")  # fmt: skip
    parser.add_argument("--duplicate-pool", type=int, default=2000)
    parser.add_argument("--skip-reliability", action="store_true")
    parser.add_argument("--skip-queued", action="store_true", help="no queued-mode diagnostic")
    parser.add_argument("--skip-commands", action="store_true", help="no import or backfill")
    parser.add_argument("--skip-djstripe", action="store_true",
                        help="no dj-stripe baseline (saves its migrations)")  # fmt: skip
    parser.add_argument("--setting", type=setting, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="measure a departure from README's defaults (repeatable)")  # fmt: skip
    parser.add_argument("--only-reliability", action="store_true")
    parser.add_argument("--reliability-events", type=int, default=3000)
    parser.add_argument("--malformed-examples", type=int, default=1500)
    parser.add_argument(
        "--import-events", type=int, default=100_000, help="events in the import workload's file"
    )
    parser.add_argument("--backfill-events", type=int, default=8000,
                        help="events the backfill workload fetches")  # fmt: skip
    args = parser.parse_args()
    overrides.update(args.setting)

    ensure_tools()
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the ExitStack below stops what we started.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before": os.getloadavg(),
        "settings_departing_from_readme": dict(overrides),
    }
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="bootwebhooks-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        pg = PrivatePostgres(free_port(5544))
        stack.callback(pg.destroy)
        print(f"private PostgreSQL on 127.0.0.1:{pg.port} in {pg.root}", flush=True)
        pg.create()
        if not (args.skip_djstripe or args.only_reliability):
            stripe = stack.enter_context(djstripe_baseline.StripeObjects())
            overrides.update(BENCH_DJSTRIPE="1", BENCH_STRIPE_API_BASE=stripe.url)
        env = server_env(pg.url)
        print("migrating", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        bench = Bench(args, pg, workdir)
        stack.callback(bench.db.close)
        if "BENCH_DJSTRIPE" in overrides:
            subprocess.run([sys.executable, "bench/djstripe_baseline.py", events.SECRET],
                           cwd=ROOT, env=env, check=True)  # fmt: skip
            bench.stripe = stripe
        log = OUT / "gunicorn.log"
        log.write_bytes(b"")

        if not args.only_reliability:
            server = Gunicorn(free_port(8100), args.workers, env, log)
            stack.callback(server.stop)
            server.start()
            print(f"gunicorn on {server.base_url}, {args.workers} sync workers", flush=True)
            tp = bench.throughput(server)
            server.stop()
            if args.skip_queued:
                tp["goals"].append((DRAIN_GOAL, None, "not measured (--skip-queued)"))
            else:
                queued_server = Gunicorn(
                    free_port(8300), args.workers,
                    server_env(pg.url, WEBHOOK_PROCESSING="queued"), log,
                )  # fmt: skip
                stack.callback(queued_server.stop)
                queued_server.start()
                tp["queued"] = q = bench.queued(queued_server, webhook_rps(tp))
                queued_server.stop()
                tp["results"].append(q.pop("result"))
                tail = tp["results"][-1].p99_ms / tp["results"][-1].p50_ms
                tp["goals"] += [
                    (DRAIN_GOAL, q["drain / inline"] >= 1.0, f"{q['drain / inline']:.2f}x"),
                    (f"p99 < 4x p50 ({QUEUED})", tail < 4, f"{tail:.2f}x"),
                ]
            if not args.skip_commands:
                tp["commands"] = commands_rate(pg.url, tp, args.import_events, args.backfill_events)
            report["throughput"] = {
                **{k: v for k, v in tp.items() if k not in ("results", "goals")},
                "results": [r.as_dict() for r in tp["results"]],
                "goals": [{"goal": g, "pass": p, "measured": m} for g, p, m in tp["goals"]],
            }
        else:
            bench.floor_rps = 3000.0

        handled_env = server_env(pg.url, BENCH_EFFECT_HANDLER="1")
        handled = Gunicorn(free_port(8200), args.workers, handled_env, log)
        stack.callback(handled.stop)
        handled.start()
        if not args.only_reliability:
            h = bench.handled_throughput(handled)
            report["throughput"]["results"].append(h.as_dict())
            tp["results"].append(h)
        if not args.skip_reliability:
            slow_env = server_env(pg.url, BENCH_EFFECT_HANDLER="1", BENCH_HANDLER_DELAY_MS="5")
            handled.stop()
            handled.env = slow_env
            handled.start()
            report["reliability"] = reliability.run_all(
                pg, handled, events_per_run=args.reliability_events,
                malformed_examples=args.malformed_examples,
            )  # fmt: skip

    report["load_average_after"] = os.getloadavg()
    text = render(report, args)
    print("\n" + text)
    (OUT / "latest.md").write_text(text)
    (OUT / "latest.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten {OUT / 'latest.md'} and latest.json")
    failed = [g for g in report.get("throughput", {}).get("goals", []) if g["pass"] is False]
    failed += [r for r in report.get("reliability", {}).get("runs", []) if not r["pass"]]
    return 1 if failed else 0


def webhook_rps(tp: dict) -> float:
    """The inline webhook's unique-event rate in this run, what the other paths compare with."""
    return next(r.rps for r in tp["results"] if r.name == UNIQUE)


def commands_rate(database_url: str, tp: dict, imports: int, backfills: int) -> dict:
    """Import and backfill rates on the same private cluster, against this run's webhook rate;
    their goals join the throughput goals."""
    webhook = webhook_rps(tp)
    print(f"import of {imports} events, backfill of {backfills}", flush=True)
    out = subprocess.run(
        [sys.executable, "bench/commands_rate.py", "--import-events", str(imports),
         "--backfill-events", str(backfills),
         "--webhook-rps", str(webhook), "--json"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    rates = result["rates"]
    imp, back = rates["import_webhook_events"] / webhook, rates["backfill_stripe_events"] / webhook
    tp["goals"] += [
        ("import >= 1.5x the webhook rate", imp >= 1.5, f"{imp:.2f}x"),
        ("backfill >= 1.0x the webhook rate", back >= 1.0, f"{back:.2f}x"),
    ]
    return {**result, "webhook_rps": webhook}


def render(report: dict, args: argparse.Namespace) -> str:
    parts = [
        f"Run started {report['started']}: {args.workers} gunicorn sync workers, wrk "
        f"{args.threads} threads x {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds} s per workload. Settings: README's defaults"
        + (
            ", except "
            + ", ".join(f"{k}={v}" for k, v in report["settings_departing_from_readme"].items())
            if report["settings_departing_from_readme"]
            else ""
        )
        + ". Load average (1/5/15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in report['load_average_before'])}, after "
        f"{'/'.join(f'{x:.2f}' for x in report['load_average_after'])}."
    ]
    tp = report.get("throughput")
    if tp:
        results = [Result(**{k: v for k, v in r.items() if k != "rps"}) for r in tp["results"]]
        parts.append(fmt_table(results))
        parts.append("| ratio (median of rounds) | measured | per round |\n| --- | ---: | --- |\n"
            + "\n".join(f"| {k} | {v:.2f}x | "
                        + ", ".join(f"{x:.2f}" for x in tp["ratios_per_round"][k]) + " |"
                        for k, v in tp["ratios"].items()))  # fmt: skip
        parts.append("| same ratio from server CPU per request (diagnostic) | measured |\n"
            "| --- | ---: |\n" + "\n".join(f"| {k} | {v:.2f}x |"
                                        for k, v in tp["cpu_ratios"].items()))  # fmt: skip
        parts.append("| goal | measured | result |\n| --- | --- | --- |\n" + "\n".join(
            f"| {g['goal']} | {g['measured']} | "
            f"{ {True: 'PASS', False: 'FAIL', None: 'not measured'}[g['pass']]} |"
            for g in tp["goals"]))  # fmt: skip
        parts.append(
            f"Unique events: {tp['unique_2xx']} answered 2xx, stored by status "
            f"{tp['unique_stored']}; naive receiver: {tp['naive_2xx']} answered 2xx, "
            f"{tp['naive_rows']} rows (a few more rows than 2xx = requests in flight at the end)."
            f"\nDuplicates: {tp['duplicate_updates']['updates']} row updates, of which "
            f"{tp['duplicate_updates']['hot']} HOT (no index maintenance)."
            f"\nBad-signature workload, database delta: {tp['bad_signature_db_delta']}."
        )
        if tp.get("djstripe"):
            d = tp["djstripe"]
            parts.append(
                f"dj-stripe: {d['answered 2xx']} answered 2xx, {d['non-2xx']} non-2xx; stored "
                f"{d['triggers']} triggers ({d['valid']} valid, {d['processed']} processed, "
                f"{d['failed']} with an exception) and {d['events']} events."
            )
        if tp.get("queued"):
            q = tp["queued"]
            parts.append(
                f"Queued mode (diagnostic): acknowledgements / naive receiver "
                f"{q['acknowledged / naive']:.2f}x (per round "
                + ", ".join(f"{x:.2f}" for x in q["per_round"])
                + f"); then {QUEUED_WORKERS} workers drained {q['drained']:,} events in "
                f"{q['drain_seconds']:.1f} s: {q['drain_rps']:.0f} events/s, "
                f"{q['drain / inline']:.2f}x the inline webhook's unique rate; stored by status "
                f"{q['stored']}; worker exit codes {q['worker_exit_codes']}."
            )
        if tp.get("commands"):
            c = tp["commands"]
            rss = ", ".join(f"{int(n):,} events {mb:.0f} MB" for n, mb in c["peak_rss_mb"].items())
            parts.append(
                f"Commands on the same cluster, --jobs {c['jobs']}: "
                + ", ".join(
                    f"{name} {c['events'][name]:,} events at {rate:.0f} events/s"
                    for name, rate in c["rates"].items()
                )
                + f"; webhook {c['webhook_rps']:.0f} req/s. Import peak RSS (command or largest "
                f"lane): {rss}."
            )
    rel = report.get("reliability")
    if rel:
        parts.append(reliability.render(rel))
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
