"""The process-wide choices of daemon/runtime.py: which event loop, and the settled collector."""

from __future__ import annotations

import asyncio
import gc
import importlib.util

import pytest

from risk_manager.daemon import runtime

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


async def _loop_module() -> str:
    return runtime.loop_name(asyncio.get_running_loop())


def test_the_standard_loop_on_request() -> None:
    choice = runtime.choose_loop("asyncio")
    assert choice.name == "asyncio" and choice.factory is None
    assert runtime.run(_loop_module(), choice) == "asyncio"


def test_an_unknown_choice_falls_back_to_asyncio_and_says_why() -> None:
    choice = runtime.choose_loop("tokio")
    assert choice.name == "asyncio" and choice.factory is None
    assert "RISK_MANAGER_EVENT_LOOP='tokio'" in choice.note and "auto" in choice.note


def test_a_requested_loop_that_is_not_installed_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def missing(name: str, package: str | None = None) -> object:
        if name in ("uvloop", "winloop"):
            raise ImportError(name)
        return real_import(name, package)

    monkeypatch.setattr(runtime.importlib, "import_module", missing)
    for wanted in ("auto", "uvloop", "winloop"):
        choice = runtime.choose_loop(wanted)
        assert choice.name == "asyncio" and choice.factory is None
        assert "not installed" in choice.note and "risk-manager[fast]" in choice.note
    assert runtime.run(_loop_module(), runtime.choose_loop("auto")) == "asyncio"


def test_the_environment_variable_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime.LOOP_ENV, "asyncio")
    assert runtime.choose_loop().name == "asyncio"
    monkeypatch.setenv(runtime.LOOP_ENV, " AsyncIO ")
    assert runtime.choose_loop().name == "asyncio"


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed (the optional 'fast' extra)")
def test_uvloop_is_used_when_installed() -> None:
    choice = runtime.choose_loop("auto")
    assert choice.name == "uvloop" and choice.factory is not None and choice.note.startswith("uvloop")
    assert runtime.run(_loop_module(), choice) == "uvloop"


def test_settling_the_collector_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    before_threshold = gc.get_threshold()
    try:
        done = runtime.settle_gc()
        assert done["frozen"] > 0 and gc.get_freeze_count() == done["frozen"]
        assert gc.get_threshold()[0] == runtime.GC_THRESHOLD_0
        assert gc.get_threshold()[1:] == before_threshold[1:]
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.set_threshold(*before_threshold)
