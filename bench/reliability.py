"""Reliability runs: deliver unique events like Stripe while something breaks, then count.

The client sends each event until it gets a 2xx, from several threads, signing every attempt
afresh and backing off exponentially on anything else (compressed to seconds, not Stripe's
hours). The server runs the bench handler, which writes one `bench_effect` row per
application, so "applied twice" is countable rather than assumed.

For each run: events sent, acknowledged (got a 2xx), lost (acknowledged but not stored as
processed, or with no effect: must be 0), applied twice (more than one effect row or more
than one `processed` attempt: must be 0), and how often the disruption was visible to the
client (5xx answers, dropped connections).
"""

import http.client
import json
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench import events, malformed
from bench.events import EFFECT_TYPES
from bench.servers import Gunicorn, PrivatePostgres

CLIENT_THREADS = 8
GIVE_UP_AFTER = 120.0  # seconds per event; Stripe's three days, compressed


@dataclass
class Ledger:
    attempts: int = 0
    acknowledged: set[str] = field(default_factory=set)
    given_up: set[str] = field(default_factory=set)
    answers: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, event_id: str, answer: str, acked: bool) -> None:
        with self.lock:
            self.attempts += 1
            self.answers[answer] += 1
            if acked:
                self.acknowledged.add(event_id)


def post(server: Gunicorn, body: bytes, header: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            "POST",
            events.WEBHOOK,
            body=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def deliver(server: Gunicorn, event_id: str, body: bytes, ledger: Ledger) -> None:
    """Like Stripe: a fresh `t` each attempt, retry every non-2xx with exponential backoff."""
    deadline = time.monotonic() + GIVE_UP_AFTER
    delay = 0.05
    while True:
        try:
            status = post(server, body, events.signature_header(body))
            answer = str(status)
        except (OSError, http.client.HTTPException) as exc:
            status, answer = None, type(exc).__name__
        acked = status is not None and 200 <= status < 300
        ledger.note(event_id, answer, acked)
        if acked:
            return
        if time.monotonic() > deadline:
            with ledger.lock:
                ledger.given_up.add(event_id)
            return
        time.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, 1.0)


def load(
    server: Gunicorn,
    prefix: str,
    count: int,
    disruptions: list[tuple[float, Callable[[], str]]],
) -> tuple[Ledger, list[str], list[str]]:
    """Deliver `count` unique events; run each disruption once `fraction` of them are acked."""
    bodies = list(events.bodies(prefix, count))
    ids = [json.loads(b)["id"] for b in bodies]
    work: queue.Queue = queue.Queue()
    for item in zip(ids, bodies, strict=True):
        work.put(item)
    ledger = Ledger()
    done = threading.Event()

    def client() -> None:
        while True:
            try:
                event_id, body = work.get_nowait()
            except queue.Empty:
                return
            deliver(server, event_id, body, ledger)

    log: list[str] = []

    def disrupt() -> None:
        for fraction, action in disruptions:
            while len(ledger.acknowledged) < fraction * count and not done.is_set():
                time.sleep(0.01)
            if done.is_set():
                log.append(f"not run (load finished first): {action.__name__}")
                return
            log.append(f"at {len(ledger.acknowledged)}/{count} acked: {action()}")

    clients = [threading.Thread(target=client) for _ in range(CLIENT_THREADS)]
    disruptor = threading.Thread(target=disrupt)
    started = time.monotonic()
    for t in [*clients, disruptor]:
        t.start()
    for t in clients:
        t.join()
    done.set()
    disruptor.join()
    log.append(f"load took {time.monotonic() - started:.1f} s")
    return ledger, ids, log


def audit(db, prefix: str, ids: list[str], ledger: Ledger) -> dict:
    rows = db.execute(
        """
        SELECT e.stripe_id, e.status, e.type,
               (SELECT count(*) FROM bootwebhooks_inbox_attempt a
                 WHERE a.event_id = e.id AND a.outcome = 'processed'),
               (SELECT count(*) FROM bench_effect f WHERE f.event_id = e.stripe_id)
        FROM bootwebhooks_inbox_webhookevent e WHERE e.stripe_id LIKE %s
        """,
        [f"evt\\_{prefix}%"],
    ).fetchall()
    (duplicate_rows,) = db.execute(
        "SELECT count(*) FROM (SELECT stripe_id FROM bootwebhooks_inbox_webhookevent "
        "WHERE stripe_id LIKE %s "
        "GROUP BY stripe_id HAVING count(*) > 1) d",
        [f"evt\\_{prefix}%"],
    ).fetchone()
    stored = {r[0]: r for r in rows}
    (redelivered,) = db.execute(
        "SELECT count(*) FROM bootwebhooks_inbox_webhookevent "
        "WHERE stripe_id LIKE %s AND delivery_count > 1",
        [f"evt\\_{prefix}%"],
    ).fetchone()
    final = {"processed", "ignored", "superseded"}

    def applied(row) -> bool:
        _, status, type_, _, effects = row
        if status not in final:
            return False
        return effects >= 1 if type_ in EFFECT_TYPES else True

    lost = [i for i in ledger.acknowledged if i not in stored or not applied(stored[i])]
    twice = [r[0] for r in rows if r[3] > 1 or r[4] > 1] + ["(duplicate rows)"] * duplicate_rows
    statuses = Counter(r[1] for r in rows)
    non_2xx = {k: v for k, v in ledger.answers.items() if not k.startswith("2")}
    return {
        "events sent": len(ids),
        "acknowledged": len(ledger.acknowledged),
        "not acknowledged (gave up)": len(ledger.given_up),
        "lost": len(lost),
        "applied twice": len(twice),
        "stored": len(stored),
        "stored by status": dict(statuses),
        "attempts": ledger.attempts,
        "stored events delivered more than once": redelivered,
        "non-2xx answers seen by the client": non_2xx,
        "lost ids (first 5)": lost[:5],
        "applied-twice ids (first 5)": twice[:5],
    }


def restart_while_idle(pg: PrivatePostgres, server: Gunicorn) -> dict:
    """What one database restart costs once it is over: every worker holds a session, the
    server restarts (`-m fast`, nothing in flight), then unique events are delivered once each
    from 8 threads. Without connection health checks each worker's first query fails (a 503
    per worker); with them there should be none."""

    def once(body: bytes) -> str:
        try:
            return str(post(server, body, events.signature_header(body)))
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(once, events.bodies("ridlew", server.workers * 8)))
        pg.stop("fast")
        pg.start()
        answers = Counter(pool.map(once, events.bodies("ridle", server.workers * 10)))
    non_2xx = sum(n for answer, n in answers.items() if not answer.startswith("2"))
    return {"workers": server.workers, "answers": dict(answers), "non-2xx": non_2xx}


def run_all(
    pg: PrivatePostgres,
    server: Gunicorn,
    *,
    events_per_run: int,
    malformed_examples: int,
) -> dict:
    print("reliability: PostgreSQL restarted while idle", flush=True)
    idle = restart_while_idle(pg, server)
    print(f"  {json.dumps(idle)}", flush=True)
    runs = []

    def restart_crash() -> str:
        started = time.monotonic()
        pg.crash_and_restart(down_seconds=3)
        took = time.monotonic() - started
        return f"PostgreSQL stopped -m immediate, down 3 s, back in {took:.1f} s"

    def restart_fast() -> str:
        pg.stop("fast")
        pg.start()
        return "PostgreSQL restarted -m fast"

    def kill_worker() -> str:
        return f"kill -9 worker pid {server.kill_worker()}"

    plans = [
        ("PostgreSQL restarted mid-load", "rpg", [(0.25, restart_crash), (0.6, restart_fast)]),
        (
            "gunicorn worker killed (-9) mid-load",
            "rkill",
            [(f, kill_worker) for f in (0.1, 0.25, 0.4, 0.55, 0.7, 0.85)],
        ),
    ]
    for name, prefix, disruptions in plans:
        print(f"reliability: {name}", flush=True)
        ledger, ids, log = load(server, prefix, events_per_run, disruptions)
        with pg.connect() as db:  # a new session: the restart ended any older one
            counts = audit(db, prefix, ids, ledger)
        disrupted = sum(counts["non-2xx answers seen by the client"].values()) > 0
        counts["disruptions"] = log
        counts["pass"] = (
            counts["lost"] == 0
            and counts["applied twice"] == 0
            and counts["not acknowledged (gave up)"] == 0
            and disrupted
        )
        print(f"  {json.dumps({k: v for k, v in counts.items() if 'ids' not in k})}", flush=True)
        runs.append({"name": name, **counts})

    print("reliability: malformed corpus (hypothesis)", flush=True)
    with pg.connect() as db:
        corpus = malformed.run(server, db, examples=malformed_examples)
    print(f"  {json.dumps(corpus)}", flush=True)
    runs.append(corpus)
    return {"runs": runs, "client_threads": CLIENT_THREADS, "restart while idle": idle}


def render(rel: dict) -> str:
    head = (
        "| run | events sent | acknowledged | lost | applied twice | gave up | "
        "non-2xx seen by client | result |\n| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    )
    lines = [head]
    for r in rel["runs"]:
        if r["name"].startswith("malformed"):
            continue
        seen = sorted(r["non-2xx answers seen by the client"].items())
        answers = ", ".join(f"{k}: {v}" for k, v in seen)
        lines.append(
            f"| {r['name']} | {r['events sent']} | {r['acknowledged']} | {r['lost']} | "
            f"{r['applied twice']} | {r['not acknowledged (gave up)']} | {answers} | "
            f"{'PASS' if r['pass'] else 'FAIL'} |"
        )
    idle = rel["restart while idle"]
    out = [
        "\n".join(lines),
        f"PostgreSQL restarted while idle ({idle['workers']} workers, each holding a session), "
        f"then {sum(idle['answers'].values())} new events delivered once each: "
        f"{idle['non-2xx']} non-2xx (answers {idle['answers']}).",
    ]
    for r in rel["runs"]:
        if r["name"].startswith("malformed"):
            out.append(malformed.render(r))
        else:
            out.append(f"{r['name']}: " + "; ".join(r["disruptions"]) + ".")
    return "\n\n".join(out)
