"""pytest fixtures for code that uses the gateway; loaded automatically
(entry point ``pytest11``) when the ktgrpc package is installed.

* ``ktgrpc_gateway`` — an :class:`~ktgrpc.testing.EmbeddedGateway`, one per
  session; its ``address`` is the host:port to connect to.
* ``ktgrpc_client`` — a :class:`~ktgrpc.Client` on that gateway whose default
  database is cleared before the test.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from .client import Client
from .testing import EmbeddedGateway


@pytest.fixture(scope="session")
def ktgrpc_gateway() -> Iterator[EmbeddedGateway]:
    with EmbeddedGateway() as gw:
        yield gw


@pytest.fixture
def ktgrpc_client(ktgrpc_gateway: EmbeddedGateway) -> Iterator[Client]:
    with ktgrpc_gateway.client() as client:
        client.clear()
        yield client
