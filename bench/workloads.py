"""wrk runs and the database counters that go with them."""

import json
import subprocess
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

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "rps": round(self.rps, 1)}


def run_wrk(
    name: str,
    base_url: str,
    request_file: Path,
    *,
    seconds: int,
    connections: int,
    threads: int,
    cycle: bool,
) -> Result:
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(REPLAY_LUA), base_url, "--",
        str(request_file), str(threads), "cycle" if cycle else "once",
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
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
    )


WRITE_COUNTERS = """
    SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_del), 0)
    FROM pg_stat_user_tables
"""


def flush_stats(conn) -> None:
    """Make every backend's pending table statistics visible.

    Backends publish their counters lazily (up to ~10 s later when idle), but always on exit,
    so end the application's sessions; Django's health check reconnects on the next request.
    """
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    conn.execute("SELECT pg_sleep(0.3)")
    conn.execute("SELECT pg_stat_clear_snapshot()")


def write_snapshot(conn) -> dict[str, int]:
    """Rows inserted/updated/deleted in user tables, sessions opened, and the rows stored."""
    flush_stats(conn)
    ins, upd, dele = conn.execute(WRITE_COUNTERS).fetchone()
    (sessions,) = conn.execute(
        "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    (events,) = conn.execute("SELECT count(*) FROM inbox_webhookevent").fetchone()
    (attempts,) = conn.execute("SELECT count(*) FROM inbox_attempt").fetchone()
    return {
        "tuples_inserted": int(ins),
        "tuples_updated": int(upd),
        "tuples_deleted": int(dele),
        "sessions": int(sessions),
        "events": events,
        "attempts": attempts,
    }
