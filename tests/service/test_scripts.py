"""install.bat / uninstall.bat (daemon.md §10.4): shipped in the package, copied next to the environment
by ``risk-manager service copy-scripts``. They cannot run here; their text is checked for the steps,
messages and the elevation the spec requires (the Windows CI job can run them)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from risk_manager.service.scripts import script_text

from .helpers import PY


def test_install_bat() -> None:
    text = script_text("install.bat")
    assert "-Verb RunAs" in text and "net session" in text  # UAC self-elevation
    assert "Administrator rights were declined. Nothing was installed." in text
    steps = re.findall(r"^echo (\[\d/4\] .+)$", text, re.M)
    assert steps == [
        "[1/4] Initializing database...",
        "[2/4] Installing service...",
        "[3/4] Starting service...",
        "[4/4] Installation complete!",
    ]
    assert "%RM% init --config-dir" in text
    assert "%RM% service install --no-start %UPGRADE%" in text  # --upgrade when RiskManager exists
    assert "%RM% service start" in text and "%RM% service status" in text
    assert "echo Installation FAILED at step %STEP%: %REASON%" in text
    assert 'Edit the configuration with "risk-manager admin", then run install.bat again.' in text
    assert "Next: risk-manager admin" in text
    assert text.count("exit /b 1") >= 4  # every failure ends with exit code 1
    assert 'Scripts\\python.exe' in text  # the environment it sits in


def test_uninstall_bat() -> None:
    text = script_text("uninstall.bat")
    assert "-Verb RunAs" in text
    assert 'set /p "ANSWER=Type UNINSTALL to remove the Risk Manager service: "' in text
    assert 'if not "%ANSWER%"=="UNINSTALL" goto cancelled' in text
    assert "-m risk_manager service uninstall --yes" in text


def test_scripts_are_crlf_and_copied_next_to_the_environment(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PY, "-m", "risk_manager", "service", "copy-scripts", "--dest", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert proc.stdout.splitlines() == [f"wrote {tmp_path / 'install.bat'}", f"wrote {tmp_path / 'uninstall.bat'}"]
    for name in ("install.bat", "uninstall.bat"):
        data = (tmp_path / name).read_bytes()
        assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), name  # cmd.exe wants CRLF
        assert data.decode().replace("\r\n", "\n") == script_text(name).replace("\r\n", "\n")
