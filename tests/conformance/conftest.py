"""Published third-party clients against the simulator (gateway.md §7.1, issue 9).

The clients are optional test dependencies (``pip install -e '.[conformance]'``). A test whose client
is not installed is skipped with the reason, unless ``RISK_MANAGER_CONFORMANCE=required`` (set by
``.ci/run``): then a client that can be installed on this Python but cannot be imported fails the
test, so a broken install is never a silent skip. Clients that need a newer Python than the one
running are skipped with that reason; ``.ci/run`` runs this folder again under Python >= 3.12.

The simulator fixtures are the gateway tests' (an in-process ``SimServer`` on a real loopback port).
"""

from __future__ import annotations

from tests.gateway.conftest import control, hubs, mnq, rest, sim  # noqa: F401 (fixtures)
