"""The systemd unit (daemon.md §10.2): its content, its quoting, and ``systemd-analyze verify``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from risk_manager.service.command import linux_command
from risk_manager.service.layout import Layout
from risk_manager.service.unit import HARDENING, exec_start, quote_arg, render_unit, split_command

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="systemd units are Linux only")

REAL = Layout.for_service(platform="linux", env={})


def verify(unit: Path) -> str:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package 'systemd'; .ci/run installs it)")
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    return (proc.stdout + proc.stderr).strip() + ("" if proc.returncode == 0 else f"\n(exit {proc.returncode})")


def test_unit_has_the_spec_lines_and_explicit_directories() -> None:
    text = render_unit(linux_command(REAL), REAL)
    lines = text.splitlines()
    unit = lines[lines.index("[Unit]") : lines.index("[Service]")]
    service = lines[lines.index("[Service]") : lines.index("[Install]")]
    assert {"StartLimitIntervalSec=3600", "StartLimitBurst=20", "After=network-online.target"} <= set(unit)
    for line in (
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=risk-manager",
        "Group=risk-manager",
        "Restart=on-failure",
        "RestartSec=10",
        "TimeoutStopSec=15",
        "WatchdogSec=30",
        "ReadOnlyPaths=/etc/risk-manager",
        "ReadWritePaths=/var/lib/risk-manager /var/log/risk-manager",
        *HARDENING,
    ):
        assert line in service, line
    assert "WantedBy=multi-user.target" in lines
    command = split_command(exec_start(text) or "")
    assert command[-8:] == [
        "run", "--service",
        "--config-dir", "/etc/risk-manager",
        "--data-dir", "/var/lib/risk-manager",
        "--log-dir", "/var/log/risk-manager",
    ]
    assert Path(command[0]).is_absolute()


@pytest.mark.parametrize("word", ["plain", "with space", "per%cent", "dollar$HOME", 'quo"te', "back\\slash", ""])
def test_quoting_round_trips(word: str) -> None:
    line = " ".join(quote_arg(w) for w in ["/bin/x", word, "tail"])
    assert split_command(line) == ["/bin/x", word, "tail"]


def test_generated_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    for name, layout in (
        ("real", REAL),
        ("staged", Layout.for_service(tmp_path / "stage with space")),
    ):
        unit = tmp_path / name / "risk-manager.service"
        unit.parent.mkdir()
        unit.write_text(render_unit(linux_command(layout), layout), encoding="utf-8")
        assert verify(unit) == "", f"{name} unit:\n{verify(unit)}"


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above is only worth something if verify complains about mistakes."""
    unit = tmp_path / "risk-manager.service"
    unit.write_text(render_unit(linux_command(REAL), REAL).replace("Restart=on-failure", "Restart=on-failur"))
    assert "restart specifier" in verify(unit)
