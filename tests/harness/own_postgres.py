"""A PostgreSQL cluster of the test's own, to stop and start at will: never the machine's service.

``initdb`` and ``pg_ctl`` from ``POSTGRES_BIN`` (default /usr/lib/postgresql/15/bin: Debian's
postgresql-15, which our machines' PostgreSQL comes from) build a cluster in a temporary
directory and run it on a free loopback port, its socket in that directory too. PostgreSQL
refuses to run as root, so as root (our machines and CI) the cluster belongs to the
``postgres`` system user and the commands run through ``runuser``. The cluster is stopped
(immediate) and its directory removed however the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.harness.http_server import free_port

__all__ = ["POSTGRES_BIN", "OwnCluster", "own_cluster"]


def _bin_dir() -> Path:
    """POSTGRES_BIN, else Debian's postgresql-15, else the newest Debian version installed."""
    if "POSTGRES_BIN" in os.environ:
        return Path(os.environ["POSTGRES_BIN"])
    default = Path("/usr/lib/postgresql/15/bin")
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return default if (default / "initdb").exists() or not found else found[-1].parent


POSTGRES_BIN = _bin_dir()


@dataclass
class OwnCluster:
    root: Path
    port: int
    user: str | None  # the system user it runs as when we are root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def admin_url(self) -> str:
        """For tests.harness.database.fresh_database(admin_url=...)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def _run(self, *args: str) -> None:
        command = [str(POSTGRES_BIN / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {output.decode(errors='replace')}")

    async def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=100"
        )
        log = str(self.root / "postgres.log")
        await self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", log, "-o", options)

    async def stop(self, mode: str = "fast") -> None:
        """``fast``: connections are cut off (SQLSTATE 57P01), as a restart for maintenance."""
        await self._run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode)

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""


@asynccontextmanager
async def own_cluster() -> AsyncIterator[OwnCluster]:
    if not (POSTGRES_BIN / "initdb").exists():
        raise RuntimeError(f"no initdb in {POSTGRES_BIN}: set POSTGRES_BIN")
    root = Path(tempfile.mkdtemp(prefix="rw-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = OwnCluster(root=root, port=free_port(), user=user)
    try:
        await cluster._run(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )
        await cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError):  # not running
            await cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
