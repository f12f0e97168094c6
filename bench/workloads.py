"""wrk runs and the database counters that go with them."""

import contextlib
import json
import os
import resource
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

REPLAY_LUA = Path(__file__).resolve().parent / "replay.lua"


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    s2xx: int
    s4xx: int
    s5xx: int
    socket_errors: int
    exhausted: int
    other_cpu: float = 0.0  # cores busy outside the bench's processes (a shared machine)
    server_cpu_ms: float = 0.0  # gunicorn + PostgreSQL CPU per request, wall clock aside

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "rps": round(self.rps, 1)}


TICKS = os.sysconf("SC_CLK_TCK")


def busy_ticks() -> int:
    """CPU ticks the whole machine spent not idle (steal included: the host took them)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal


def tree_ticks(roots: list[int]) -> dict[int, int]:
    """utime + stime of each process under `roots` (the bench, gunicorn, wrk, postgres)."""
    seen: dict[int, int] = {}
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        after_name = stat.rsplit(")", 1)[1].split()
        seen[pid] = int(after_name[11]) + int(after_name[12])
        stack.extend(int(c) for c in children)
    return seen


def run_wrk(
    name: str,
    base_url: str,
    request_file: Path,
    *,
    seconds: int,
    connections: int,
    threads: int,
    cycle: bool,
    own_roots: list[int] | None = None,
) -> Result:
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(REPLAY_LUA), base_url, "--",
        str(request_file), str(threads), "cycle" if cycle else "once",
    ]  # fmt: skip
    roots = [os.getpid(), *(own_roots or [])]
    busy_before, ours_before = busy_ticks(), tree_ticks(roots)
    reaped_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    elapsed = time.monotonic() - started
    reaped_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_after, ours_after = busy_ticks(), tree_ticks(roots)
    # wrk is gone by now: its CPU shows up in our reaped children's usage instead.
    wrk_cpu = (reaped_after.ru_utime + reaped_after.ru_stime) - (
        reaped_before.ru_utime + reaped_before.ru_stime
    )
    deltas = {pid: t - ours_before.get(pid, 0) for pid, t in ours_after.items()}
    ours = sum(deltas.values()) / TICKS + wrk_cpu
    other_cpu = max(0.0, ((busy_after - busy_before) / TICKS - ours) / elapsed)
    server_cpu = sum(t for pid, t in deltas.items() if pid != os.getpid()) / TICKS
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return Result(
        name=name,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        s2xx=raw["s2xx"],
        s4xx=raw["s4xx"],
        s5xx=raw["s5xx"] + raw["sother"],
        socket_errors=raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        exhausted=raw["exhausted"],
        other_cpu=other_cpu,
        server_cpu_ms=server_cpu * 1000 / max(1, raw["requests"]),
    )


WRITE_COUNTERS = """
    SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_del), 0)
    FROM pg_stat_user_tables
"""


def flush_stats(conn, reconnect: Callable[[], None] | None = None) -> None:
    """Make every backend's pending table statistics visible.

    Backends publish their counters lazily (up to ~10 s later when idle), but always on exit,
    so end the application's sessions; then `reconnect` the workers before anything is read
    or measured (see reconnect_workers).
    """
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    conn.execute("SELECT pg_sleep(0.3)")
    if reconnect is not None:
        reconnect()
        conn.execute("SELECT pg_sleep(0.3)")  # a new session's first commit flushes its stats
    conn.execute("SELECT pg_stat_clear_snapshot()")


def reconnect_workers(conn, base_url: str, workers: int, timeout: float = 20) -> None:
    """Bring every gunicorn worker's database session back after flush_stats ended them.

    The product runs without Django's connection health checks (a round trip per request), so
    a worker's first query on a session the server ended fails once, a 503, exactly as after
    a database restart. Spend those on /healthz here, not inside a measured workload: touch it
    until every worker holds a live session again.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ThreadPoolExecutor(workers * 2) as pool:
            list(pool.map(_touch, [f"{base_url}/healthz"] * workers * 4))
        if app_sessions(conn) >= workers:
            return
    raise RuntimeError(f"gunicorn's {workers} workers did not reconnect in {timeout} s")


def app_sessions(conn, started_after: float = 0.0) -> int:
    """Open sessions of the application (everyone but us), started after a Unix time."""
    (sessions,) = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
        "AND backend_start > to_timestamp(%s)",
        [started_after],
    ).fetchone()
    return sessions


def _touch(url: str) -> None:
    # The one 503 (or a closed socket) is the point.
    with contextlib.suppress(urllib.error.URLError, OSError):
        urllib.request.urlopen(url, timeout=5).read()


def write_snapshot(
    conn, reconnect: Callable[[], None] | None = None, since: dict | None = None
) -> dict:
    """Rows inserted/updated/deleted in user tables and the rows stored; with `since` (the
    snapshot taken before a workload), `sessions`: application sessions opened after it.

    Sessions are counted from pg_stat_activity before flush_stats ends them: a web worker that
    touched the database keeps its session (CONN_MAX_AGE), while pg_stat_database's counter
    would also count the sessions `reconnect` opened for the previous snapshot.
    """
    opened = app_sessions(conn, started_after=since["at"]) if since is not None else 0
    flush_stats(conn, reconnect)
    ins, upd, dele = conn.execute(WRITE_COUNTERS).fetchone()
    (at,) = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
    (events,) = conn.execute("SELECT count(*) FROM bootwebhooks_inbox_webhookevent").fetchone()
    (attempts,) = conn.execute("SELECT count(*) FROM bootwebhooks_inbox_attempt").fetchone()
    return {
        "tuples_inserted": int(ins),
        "tuples_updated": int(upd),
        "tuples_deleted": int(dele),
        "sessions": int(opened),
        "events": events,
        "attempts": attempts,
        "at": float(at),
    }
