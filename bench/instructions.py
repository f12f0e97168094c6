"""What a request costs the worker in machine instructions: `python -m bench.instructions`.

Requests per second and CPU time move with the machine's other load by more than the changes
worth measuring (on this shared VM the framework floor has moved by half within one run), so
this counts instructions instead, under valgrind's callgrind, which gives the same count for
the same work whatever else runs. Each workload is sent to the product's WSGI application in
one process (Django's handler and middleware, DRF, psycopg; no gunicorn, no HTTP parsing) on a
private PostgreSQL, and callgrind's counters are read before and after it; PostgreSQL's own
work is not counted (it runs in its own processes).

    python -m bench.instructions                      # this checkout
    python -m bench.instructions --other /tmp/before  # and a git worktree, side by side

A count is the worker's share of a request's cost, not all of it (the server's, the kernel's,
gunicorn's are left out): compare checkouts and workloads with it, and measure the goals with
`make bench`. Counts of workloads that wait on the database vary by a percent or two (psycopg
polls the socket until the answer is there).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The workloads, in the order they are sent (each after a few unmeasured requests).
WORKLOADS = (
    "framework floor",
    "DRF floor",
    "one round trip (the bound)",
    "duplicate",
    "bad signature",
    "new event (the mix)",
)


def child(requests: int) -> None:
    """In the measured process: send each workload, dumping callgrind's counters around it."""
    import gc
    import io

    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from bench import events

    app = WSGIHandler()
    pid = str(os.getpid())

    def call(path: str, body: bytes, signature: str) -> str:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
            "HTTP_HOST": "127.0.0.1:8000", "HTTP_STRIPE_SIGNATURE": signature,
            "HTTP_USER_AGENT": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }  # fmt: skip
        answered = []
        chunks = app(environ, lambda status, headers: answered.append(status))
        b"".join(chunks)
        chunks.close()
        return answered[0]

    def dump(label: str) -> None:
        subprocess.run(["callgrind_control", "-d", label, pid], check=True, capture_output=True)

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    events.create_users(connection.connection, 1, requests + 100)
    now = int(time.time())
    stored = list(events.bodies("stored", 80, now, first_user=requests + 1))
    for body in stored:
        call(events.WEBHOOK, body, events.signature_header(body))
    signed = [(b, events.signature_header(b)) for b in stored]
    wrong = [(b, events.signature_header(b, events.WRONG_SECRET)) for b in stored]
    new = list(events.bodies("new", requests + 20, now, first_user=1))
    sends = {
        "framework floor": (events.FLOOR, signed),
        "DRF floor": (events.DRF_FLOOR, signed),
        "one round trip (the bound)": (events.ONE_ROUND_TRIP, signed),
        "duplicate": (events.WEBHOOK, signed),
        "bad signature": (events.WEBHOOK, wrong),
        "new event (the mix)": (events.WEBHOOK, [(b, events.signature_header(b)) for b in new]),
    }
    for number, name in enumerate(WORKLOADS):
        path, bodies = sends[name]
        for body, signature in bodies[:20]:  # warm: first requests compile and cache
            call(path, body, signature)
        # A full collection now, so that none falls in the measured requests: one walks every
        # object the process holds, and had added a fifth to whichever workload it fell in.
        gc.collect()
        dump(f"before-{number}")
        for i in range(requests):
            body, signature = bodies[20 + i] if name.startswith("new") else bodies[i % 60]
            call(path, body, signature)
        dump(f"after-{number}")


def measure(root: Path, database_url: str, requests: int, work: Path) -> dict[str, int]:
    """Instructions per request of each workload, for the checkout at `root` (the child runs
    as a script, so it imports that checkout's code, the only one on its path)."""
    from bench.run import server_env

    out = Path(tempfile.mkdtemp(prefix="callgrind-", dir=work))
    env = {**server_env(database_url), "PYTHONPATH": str(root), "LOG_LEVEL": "ERROR"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
                   cwd=root, env=env, check=True)  # fmt: skip
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/out.%p",
         sys.executable, str(Path(__file__).resolve()), "--child", str(requests)],
        cwd=root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    counts: dict[str, int] = {}
    for dumped in out.glob("out.*.*"):
        text = dumped.read_text(errors="replace")
        label = next(line for line in text.splitlines() if line.startswith("desc: Trigger"))
        total = next(
            int(line.split()[1]) for line in text.splitlines() if line.startswith("summary:")
        )
        if "dump after-" in label:
            counts[WORKLOADS[int(label.rsplit("-", 1)[1])]] = total // requests
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, help="another checkout to count side by side")
    parser.add_argument("--requests", type=int, default=100, help="per workload (default 100)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        child(a.child)
        return 0
    from bench.run import ensure_tools
    from bench.servers import ROOT, PrivatePostgres, free_port

    ensure_tools("valgrind")
    work = Path(tempfile.mkdtemp(prefix="bootwebhooks-instructions-"))
    checkouts = [("this", ROOT)] + ([("other", a.other.resolve())] if a.other else [])
    found = {}
    for name, root in checkouts:
        pg = PrivatePostgres(free_port(5700))
        pg.create()
        try:
            found[name] = measure(root, pg.url, a.requests, work)
        finally:
            pg.destroy()
    header = "| workload | this |" + (" other | this / other |" if a.other else "")
    print(header)
    print("| --- | ---: |" + (" ---: | ---: |" if a.other else ""))
    for workload in WORKLOADS:
        row = f"| {workload} | {found['this'][workload]:,} |"
        if a.other:
            other = found["other"][workload]
            row += f" {other:,} | {found['this'][workload] / other:.2f} |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
