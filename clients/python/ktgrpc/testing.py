"""A gateway on the embedded store, in a subprocess, for tests.

``EmbeddedGateway`` is to the ``ktgrpc`` binary what ``kt``'s
``EmbeddedServer`` is to ``ktserver``: it starts ``ktgrpc serve`` on a free
loopback port with an in-memory store, waits until it serves, and stops it::

    from ktgrpc.testing import EmbeddedGateway

    with EmbeddedGateway() as gw:
        client = gw.client()
        client["k"] = b"v"

The binary is ``binary``, else ``$KTGRPC_BINARY``, else ``ktgrpc`` on PATH
(``make build`` puts one in ``bin/``). With the package installed, pytest
gets the fixtures ``ktgrpc_gateway`` (one gateway per test session) and
``ktgrpc_client`` (a client whose database is cleared before each test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from typing import Any, List, Optional, Sequence

from .client import Client

__all__ = ["EmbeddedGateway", "GatewayError"]


class GatewayError(RuntimeError):
    """The gateway binary could not be found or did not start."""


class EmbeddedGateway:
    """Runs ``ktgrpc serve`` on ``127.0.0.1:0`` with ``backend`` (default
    ``embedded:``) and ``args`` (more ``serve`` flags)."""

    def __init__(self, binary: Optional[str] = None, *, backend: str = "embedded:",
                 args: Sequence[str] = (), start_timeout: float = 30.0) -> None:
        self.binary = binary or os.environ.get("KTGRPC_BINARY") or shutil.which("ktgrpc")
        if not self.binary:
            raise GatewayError(
                "no ktgrpc binary: pass binary=, set KTGRPC_BINARY, or put ktgrpc on PATH "
                "(build it with 'make build' or 'go build -o bin/ktgrpc ./cmd/ktgrpc')"
            )
        self.backend = backend
        self.args = list(args)
        self.start_timeout = start_timeout
        self.address: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None
        self._log: List[str] = []
        self._drain: Optional[threading.Thread] = None

    def start(self) -> str:
        """Starts the gateway and returns its address (host:port)."""
        if self.process is not None:
            raise GatewayError("the gateway is running already")
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:0", "--backend", self.backend,
               "--log-format", "json", *self.args]
        try:
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise GatewayError(f"cannot run {self.binary}: {e}") from e
        ready = threading.Event()

        def read() -> None:
            # Reads the log for the startup line, then keeps draining it so
            # that the gateway never blocks on a full pipe.
            assert self.process is not None and self.process.stderr is not None
            for line in self.process.stderr:
                self._log.append(line)
                if self.address is None:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("msg") == "ktgrpc serving":
                        self.address = entry["listen"]
                        ready.set()
            ready.set()

        self._drain = threading.Thread(target=read, name="ktgrpc-gateway-log", daemon=True)
        self._drain.start()
        if not ready.wait(self.start_timeout) or self.address is None:
            self.stop()
            raise GatewayError(f"{' '.join(cmd)} did not start:\n{self.log}")
        return self.address

    @property
    def log(self) -> str:
        """What the gateway has logged so far."""
        return "".join(self._log)

    def client(self, **kwargs: Any) -> Client:
        """A :class:`ktgrpc.Client` connected to this gateway."""
        if self.address is None:
            raise GatewayError("the gateway is not running")
        return Client(self.address, **kwargs)

    def stop(self, timeout: float = 15.0) -> None:
        """Stops the gateway gracefully (SIGTERM), killing it past ``timeout``."""
        p, self.process = self.process, None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self._drain is not None:
            self._drain.join(timeout)
        if p.stderr is not None:
            p.stderr.close()
        self.address = None

    def __enter__(self) -> "EmbeddedGateway":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
