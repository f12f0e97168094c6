"""The processes the bench starts and owns: a throwaway PostgreSQL cluster and a gunicorn.

Nothing here touches a server it did not start: the cluster lives in a fresh temporary
directory on a free port, and gunicorn binds a free port on 127.0.0.1.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(start: int) -> int:
    for port in range(start, start + 500):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}..{start + 499}")


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


class PrivatePostgres:
    """A PostgreSQL cluster of our own, created in a temp dir and deleted at the end.

    Server settings are initdb's defaults (fsync on, synchronous_commit on): the numbers are
    for a durable database. Run as the `postgres` OS user when we are root.
    """

    def __init__(self, port: int, settings: tuple[str, ...] = ()) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bindir = bindir
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="bootwebhooks-bench-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.dbname = "bench"
        self.settings = settings  # `name=value` server settings beyond initdb's
        self.url = f"postgres://postgres@127.0.0.1:{port}/{self.dbname}"
        self.running = False

    def _run(self, program: str, *args: str) -> None:
        cmd = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=self.root)

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "--auth=trust", "--username=postgres",
                  "--encoding=UTF8", "--no-instructions")  # fmt: skip
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  self.dbname)  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
            + "".join(f" -c {setting}" for setting in self.settings)
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def crash_and_restart(self, down_seconds: float) -> None:
        """Stop without a clean shutdown (crash recovery on start), stay down, come back."""
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def destroy(self) -> None:
        if self.running:
            try:
                self.stop("fast")
            except subprocess.CalledProcessError:
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, dbname: str | None = None):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname or self.dbname,
            autocommit=True,
        )


class Gunicorn:
    """`gunicorn bootwebhooks.wsgi:application` with a fixed number of sync workers."""

    def __init__(self, port: int, workers: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.workers = workers
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "gunicorn", "bootwebhooks.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
            "--timeout", "30", "--graceful-timeout", "5", "--backlog", "2048",
            # gunicorn 27 gives every instance the same control socket (~/.gunicorn): servers
            # running side by side (queued mode, a test suite) would take each other's.
            "--no-control-socket",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"gunicorn exited with {code}; see {self.log}")
            if len(self.worker_pids()) == self.workers and self._answers():
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not come up in {timeout} s; see {self.log}")

    def _answers(self) -> bool:
        request = urllib.request.Request(f"{self.base_url}/bench/floor/", data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except FileNotFoundError:
            return []

    def kill_worker(self) -> int:
        """SIGKILL one worker (gunicorn's master starts a new one); return its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        workers = self.worker_pids()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in workers:  # only if the master died before reaping them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None
