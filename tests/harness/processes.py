"""refundwatch's own processes as children of a test, for crash and restart tests.

The demo's :class:`demo.processes.Stack` starts and stops the children; this module adds what a
fault test needs on top: the environment that makes a child build given settings, `kill -9`
and restart by name, and waiting until a restarted child is serving again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from config.settings import Settings
from demo.processes import Stack
from tests.harness.http_server import free_port

__all__ = ["Children", "TemporalPorts", "settings_env"]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables a child process needs to build exactly these settings.

    Every field is carried over by its variable name (its validation alias), so a setting added
    later reaches the children too; secrets are written out, lists comma-joined."""
    env: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if value is None:
            continue
        joined = ",".join(_text(item) for item in value) if isinstance(value, list) else None
        env[str(field.validation_alias)] = joined if joined is not None else _text(value)
    env["REFUNDWATCH_LOG_FORMAT"] = "json"
    return env


def _text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


@dataclass(frozen=True)
class TemporalPorts:
    frontend: int
    ui: int

    @classmethod
    def free(cls) -> TemporalPorts:
        return cls(free_port(), free_port())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.frontend}"


class Children:
    """Named child processes (worker, api, temporal) that a test may kill and start again."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.stack = Stack(data_dir=data_dir, env=env)
        self.kills = 0

    @property
    def log_dir(self) -> Path:
        return self.stack.log_dir

    def process(self, name: str) -> subprocess.Popen[bytes]:
        return self.stack.processes[name]

    def running(self, name: str) -> bool:
        process = self.stack.processes.get(name)
        return process is not None and process.poll() is None

    # ------------------------------------------------------------------ starting
    def start_worker(self, name: str = "worker") -> None:
        self.stack.start(name, [sys.executable, "-m", "cli.main", "worker"])

    def start_api(self, port: int, name: str = "api") -> None:
        argv = [sys.executable, "-m", "cli.main", "api", "--port", str(port)]
        self.stack.start(name, argv)

    def start_temporal(self, ports: TemporalPorts) -> None:
        """The dev server on a file database in the data dir (kept across restarts)."""
        self.stack.start_temporal(ports.frontend, ports.ui)

    # ------------------------------------------------------------------ stopping
    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to the child's process group and reap it (kill -9 by default)."""
        process = self.stack.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        """Stop every child and reap it, whatever state a failed test left them in."""
        try:
            self.stack.stop()  # SIGTERM, then SIGKILL for a child that does not go in time
        finally:
            for process in self.stack.processes.values():
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)

    # ------------------------------------------------------------------ waiting
    async def wait_http(self, name: str, url: str, timeout_s: float = 60) -> None:
        """Wait until ``url`` answers below 500; fail early if child ``name`` exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                self._check(name)
                try:
                    if (await client.get(url)).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                if loop.time() > deadline:
                    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")
                await asyncio.sleep(0.2)

    async def wait_temporal(self, ports: TemporalPorts, timeout_s: float = 60) -> Client:
        """Wait for the dev server's UI, then for its frontend to accept a client."""
        await self.wait_http("temporal", f"http://127.0.0.1:{ports.ui}/", timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                return await Client.connect(ports.address)
            except RuntimeError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def wait_log(self, name: str, text: str, *, after: int = 0, timeout_s: float = 60) -> int:
        """Wait until ``text`` shows in the child's log past byte ``after``; the new log size."""
        path = self.log_dir / f"{name}.log"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            data = path.read_bytes() if path.exists() else b""
            if text.encode() in data[after:]:
                return len(data)
            self._check(name)
            if loop.time() > deadline:
                raise RuntimeError(f"{name} did not log {text!r} within {timeout_s:.0f} s")
            await asyncio.sleep(0.1)

    def _check(self, name: str) -> None:
        process = self.stack.processes.get(name)
        if process is not None and process.poll() is not None:
            log = self.log_dir / f"{name}.log"
            raise RuntimeError(f"{name} exited with code {process.returncode}; see {log}")

    def log_size(self, name: str) -> int:
        path = self.log_dir / f"{name}.log"
        return path.stat().st_size if path.exists() else 0
