"""Ordered steps: a test module marked ``steps`` is one scenario, so after a failed step the later
steps are skipped (they would only fail for the same reason and hide the first failure)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

_FAILED = "_failed_production_step"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.get_closest_marker("steps") is not None:
        module = getattr(item, "module", None)
        if module is not None and not hasattr(module, _FAILED):
            setattr(module, _FAILED, item.name)


@pytest.fixture(autouse=True)
def _skip_after_a_failed_step(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("steps") is None:
        return
    failed = getattr(request.module, _FAILED, None)
    if failed is not None:
        pytest.skip(f"an earlier step failed: {failed}")
