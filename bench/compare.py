"""Before/after on one machine: the webhook's new events (the bench's membership mix, each
sent once), duplicates and bad-signature workloads, and the framework floor, against two
gunicorns (this checkout and another one, e.g. a worktree of
main) on one private PostgreSQL, taking turns so both see the same weather.

    git worktree add /tmp/before main
    python -m bench.compare /tmp/before --seconds 5 --rounds 4

Prints, per workload, this checkout's requests/s and server CPU per request against the
other's (median of the per-round ratios).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import events
from bench.run import ensure_tools, server_env
from bench.servers import ROOT, Gunicorn, PrivatePostgres, free_port
from bench.workloads import Result, run_wrk

WORKLOADS = ("floor", "new events", "duplicates", "bad signatures")
MEMBERS_FROM = 100_000  # users of the new events' members (the seed's are 1 to 3,000)


class CheckoutGunicorn(Gunicorn):
    """The bench's gunicorn, serving the code of `root`."""

    def __init__(self, name: str, root: Path, *args) -> None:
        super().__init__(*args)
        self.name, self.root = name, root

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "gunicorn", "bootwebhooks.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--timeout", "30",
            "--no-control-socket",  # two gunicorns side by side (bench/servers.py says why)
        ]  # fmt: skip
        env = {**self.env, "PYTHONPATH": str(self.root)}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_ready()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the checkout to compare with")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    a = parser.parse_args()
    ensure_tools()  # wrk, as `make bench` installs it
    work = Path(tempfile.mkdtemp(prefix="bootwebhooks-compare-"))
    pg = PrivatePostgres(free_port(5600))
    pg.create()
    servers: list[Gunicorn] = []
    try:
        env = server_env(pg.url)
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        events.create_users(pg.connect(), 1, 3000)
        for name, root in (("other", a.other.resolve()), ("this", ROOT)):
            server = CheckoutGunicorn(name, root, free_port(8400), a.workers, env, work / "g.log")
            server.start()
            servers.append(server)

        def wrk(server: Gunicorn, file: Path, seconds: int, cycle: bool = True) -> Result:
            return run_wrk(
                "compare",
                server.base_url,
                file,
                seconds=seconds,
                cycle=cycle,
                connections=a.connections,
                threads=2,
                own_roots=[pg.postmaster_pid()],
            )  # the database's CPU counts too

        def requests(name: str, path: str, bodies, secret: str = events.SECRET) -> Path:
            events.write_requests(work / name, path, bodies, secret)
            return work / name

        stored = list(events.bodies("u", 3000, first_user=1))
        wrk(servers[1], requests("seed", events.WEBHOOK, stored), 60, cycle=False)
        files = {
            "floor": requests("floor", events.FLOOR, events.bodies("f", 2000)),
            "duplicates": requests("dup", events.WEBHOOK, stored[:2000]),
            "bad signatures": requests(
                "bad", events.WEBHOOK, events.bodies("b", 2000), secret=events.WRONG_SECRET
            ),
        }
        members = iter(range(MEMBERS_FROM, 10**9, 10**5))

        def new_events(tag: str) -> Path:
            """Events never sent before, as many as the machine could take in the time."""
            first = next(members)
            count = 600 * a.seconds + 500
            events.create_users(pg.connect(), first, count)
            return requests(tag, events.WEBHOOK, events.bodies(tag, count, first_user=first))

        for server in servers:
            for file in [*files.values(), new_events(f"warm{server.name}")]:
                wrk(server, file, 2, cycle=file.name not in ("warmthis", "warmother"))
        seen: dict[tuple[str, str], list[Result]] = {}
        for r in range(a.rounds):
            for workload in WORKLOADS:
                for server in servers if r % 2 == 0 else servers[::-1]:
                    if workload == "new events":
                        file = new_events(f"new{r}{server.name}")
                        result = wrk(server, file, a.seconds, cycle=False)
                    else:
                        result = wrk(server, files[workload], a.seconds)
                    seen.setdefault((server.name, workload), []).append(result)
                    print(f"round {r} {server.name:5} {workload:14} {result.rps:6.0f} req/s "
                          f"{result.server_cpu_ms:.2f} ms CPU/req", flush=True)  # fmt: skip
        for workload in WORKLOADS:
            pairs = list(zip(seen[("this", workload)], seen[("other", workload)], strict=True))
            rps = statistics.median(t.rps / o.rps for t, o in pairs)
            cpu = statistics.median(t.server_cpu_ms / o.server_cpu_ms for t, o in pairs)
            print(f"{workload}: this/other requests/s {rps:.3f}, CPU per request {cpu:.3f}")
    finally:
        for server in servers:
            server.stop()
        pg.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
