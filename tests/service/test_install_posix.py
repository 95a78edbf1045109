"""``service install`` for real on Linux, as root, into a staging root (daemon.md §10.2, §10.3, §11).

The unit, the system user and group (in the root's own passwd/group files), the directories and their
modes are created for real; the trader's standard account (``nobody``) then tries everything §11
forbids; the daemon is started exactly as the unit's ``ExecStart`` says, as the service user with the
unit's umask, and protects the simulator's accounts. systemd itself is never started.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from risk_manager.service.layout import Layout
from risk_manager.service.probe import ask_daemon
from risk_manager.service.unit import exec_start, split_command
from tests.e2e.harness import Proc, Simulator, wait_until
from tests.e2e.rulesets import users_file

from .helpers import (
    NOBODY_GID,
    NOBODY_UID,
    PY,
    as_user,
    can_run_as_nobody,
    free_port,
    run_as,
    staging_root,
    write_service_config,
)
from .test_unit import verify

pytestmark = pytest.mark.skipif(bool(can_run_as_nobody()), reason=can_run_as_nobody() or "")

USERS = {"trader": ("key-trader", [8101, 8102])}


def cli(*args: str, user: tuple[int, int] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [PY, "-m", "risk_manager", *args]
    if user is not None:
        command = as_user(*user, command)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, input=stdin, check=False, cwd="/")


def passwd_entry(root: Path, name: str) -> list[str] | None:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    return None


@dataclass
class Installed:
    root: Path
    layout: Layout
    sim: Simulator
    api_url: str
    uid: int
    gid: int
    install: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    users = tmp_path_factory.mktemp("sim") / "users.json"
    users.write_text(json.dumps(users_file(USERS)), encoding="utf-8")
    sim = Simulator(users)
    try:
        with staging_root() as root:
            layout = Layout.for_service(root)
            port = free_port()
            write_service_config(layout.config_dir, sim.urls, USERS, api_port=port)
            (layout.secrets_path).chmod(0o644)  # sloppy on purpose: the installer must fix it
            result = cli("service", "install", "--no-start", "--root", str(root))
            assert result.returncode == 0, result.stdout + result.stderr
            entry = passwd_entry(root, "risk-manager")
            assert entry is not None
            yield Installed(root, layout, sim, f"ws://127.0.0.1:{port}", int(entry[2]), int(entry[3]), result)
    finally:
        sim.close()


def mode_owner(path: Path) -> tuple[str, int, int]:
    info = path.lstat()
    return f"{stat.S_IMODE(info.st_mode):04o}", info.st_uid, info.st_gid


def test_install_creates_unit_account_directories_and_modes(installed: Installed) -> None:
    root, layout, uid, gid = installed.root, installed.layout, installed.uid, installed.gid
    assert "✓ Service risk-manager.service installed (auto-start)" in installed.install.stdout
    # The system account exists in the staging root only, never on this machine.
    entry = passwd_entry(root, "risk-manager")
    assert entry is not None and entry[6] in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
    assert uid < 1000 and gid < 1000  # a system account
    assert "risk-manager" not in {line.split(":")[0] for line in Path("/etc/passwd").read_text().splitlines()}
    group = [line for line in (root / "etc/group").read_text().splitlines() if line.startswith("risk-manager:")]
    assert group and group[0].split(":")[2] == str(gid)
    expected = {
        layout.config_dir: ("0750", 0, gid),
        layout.config_dir / "accounts.yaml": ("0640", 0, gid),
        layout.config_dir / "risk_config.yaml": ("0640", 0, gid),
        layout.config_dir / "daemon.yaml": ("0640", 0, gid),
        layout.secrets_path: ("0640", 0, gid),
        layout.admin_hash_path: ("0640", 0, gid),
        layout.data_dir: ("0755", uid, gid),
        layout.db_path: ("0644", uid, gid),
        layout.log_dir: ("0755", uid, gid),
    }
    assert {p: mode_owner(p) for p in expected} == expected
    unit = layout.unit_path.read_text()
    assert mode_owner(layout.unit_path) == ("0644", 0, 0)
    argv = split_command(exec_start(unit) or "")
    assert argv[0] == str(Path(PY).parent / "risk-manager")  # this environment, by absolute path
    assert argv[1:] == ["run", "--service", "--config-dir", str(layout.config_dir), "--data-dir",
                        str(layout.data_dir), "--log-dir", str(layout.log_dir)]
    assert f"ReadWritePaths={layout.data_dir} {layout.log_dir}" in unit.splitlines()
    assert verify(layout.unit_path) == ""
    wants = root / "etc/systemd/system/multi-user.target.wants/risk-manager.service"
    assert wants.is_symlink()  # enabled: starts at boot


def test_status_reports_the_installation(installed: Installed) -> None:
    result = cli("service", "status", "--json", "--root", str(installed.root))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["installed"] is True and data["startType"] == "auto" and data["manager"] == "systemd"
    assert data["directories"] == installed.layout.directories()
    assert data["state"] in ("stopped", "running")
    assert data["account"] == f"risk-manager (uid {installed.uid}, gid {installed.gid})"
    assert data["permissions"] == []  # as installed
    text = cli("service", "status", "--root", str(installed.root)).stdout
    assert "Permissions as installed" in text and "Start type  auto" in text


def test_second_install_is_refused_with_its_own_code(installed: Installed) -> None:
    result = cli("service", "install", "--no-start", "--root", str(installed.root))
    assert result.returncode == 10
    assert "! Service is already installed. Use --upgrade to upgrade it in place." in result.stdout


@dataclass
class Running:
    proc: Proc
    notify: list[str]
    pid: int


@pytest.fixture(scope="module")
def running(installed: Installed) -> Iterator[Running]:
    """The daemon exactly as the unit's ExecStart says, as User=/Group= with the unit's UMask=."""
    unit = installed.layout.unit_path.read_text()
    argv = split_command(exec_start(unit) or "")
    umask = int(next(line for line in unit.splitlines() if line.startswith("UMask="))[6:], 8)
    sock_path = installed.root / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    os.chmod(sock_path, 0o666)  # systemd's socket is writable by the service
    sock.settimeout(0.2)
    # setpriv = User=/Group=; the umask is inherited through it (UMask=).
    previous = os.umask(umask)
    try:
        proc = Proc(
            as_user(installed.uid, installed.gid, argv),
            env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "30000000"},
            cwd=Path("/"),
        )
    finally:
        os.umask(previous)
    notify: list[str] = []

    def ready() -> bool:
        try:
            notify.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
        assert proc.running(), proc.tail()
        return any(m.startswith("READY=1") for m in notify)

    try:
        wait_until(ready, 30, "READY=1 from the daemon started as the service user")
        answer = ask_daemon(installed.api_url, 5)
        assert answer is not None and answer.pid is not None
        yield Running(proc, notify, answer.pid)
    finally:
        proc.terminate(timeout=15)
        sock.close()


def test_daemon_started_as_execstart_protects_the_accounts(installed: Installed, running: Running) -> None:
    assert "READY=1\nSTATUS=2/2 accounts protected" in running.notify
    answer = ask_daemon(installed.api_url, 5)
    assert answer is not None and answer.snapshot["mode"] == "service"
    assert [a["protection"] for a in answer.accounts] == ["protected", "protected"]
    status = Path(f"/proc/{running.pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert set(uids) == {str(installed.uid)}  # runs as the service user, not root
    layout = installed.layout
    # Files the daemon created carry the unit's umask: readable by the trader, writable by it only.
    for created in (layout.log_dir / "daemon.log", layout.data_dir / "daemon.lock"):
        assert mode_owner(created) == ("0644", installed.uid, installed.gid), created
    result = cli("service", "status", "--json", "--root", str(installed.root))
    data = json.loads(result.stdout)
    assert data["state"] == "running" and data["pid"] == running.pid
    assert data["daemon"]["protected"] == 2 and data["daemon"]["state"] == "running"


TRADER_SCRIPT = r"""
import json, os, signal, sqlite3, sys, asyncio
from pathlib import Path
from websockets.asyncio.client import connect
from risk_manager.store.connection import connect_ro
cfg, data, logs, pid, url = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
out = {}
def attempt(name, fn):
    try:
        out[name] = ["allowed", fn()]
    except PermissionError as exc:
        out[name] = ["denied", type(exc).__name__]
    except sqlite3.Error as exc:
        out[name] = ["denied", str(exc)]
attempt("read secrets.yaml", lambda: (cfg / "secrets.yaml").read_text()[:0])
attempt("read admin_password.hash", lambda: (cfg / "admin_password.hash").read_text()[:0])
attempt("list config dir", lambda: len(os.listdir(cfg)))
attempt("write accounts.yaml", lambda: open(cfg / "accounts.yaml", "a").close())
attempt("write risk_config.yaml", lambda: open(cfg / "risk_config.yaml", "a").close())
attempt("create file in config dir", lambda: open(cfg / "evil.yaml", "w").close())
attempt("write risk.db", lambda: open(data / "risk.db", "r+b").close())
def sql_write():
    conn = sqlite3.connect(str(data / "risk.db"))
    conn.execute("UPDATE lockouts SET active = 0")
    conn.commit()
attempt("sqlite write risk.db", sql_write)
attempt("write daemon.log", lambda: open(logs / "daemon.log", "a").close())
attempt("delete risk.db", lambda: (data / "risk.db").unlink())
def db_read():
    conn = connect_ro(data / "risk.db")
    return conn.execute("SELECT count(*) FROM accounts").fetchone()[0]
attempt("read risk.db", db_read)
attempt("read daemon.log", lambda: "risk-manager" in (logs / "daemon.log").read_text())
attempt("kill daemon", lambda: os.kill(pid, signal.SIGTERM))
async def api():
    async with connect(url) as ws:
        snap = json.loads(await ws.recv())
        await ws.send(json.dumps({"id": "1", "op": "reload_config", "data": {}}))
        while True:
            reply = json.loads(await ws.recv())
            if reply.get("type") == "response":
                break
        return [snap["type"], len(snap["data"]["accounts"]), reply["ok"], reply["error"]["code"]]
out["local api"] = ["allowed", asyncio.run(api())]
print(json.dumps(out))
"""


def test_tamper_resistance_for_the_traders_standard_account(installed: Installed, running: Running) -> None:
    layout = installed.layout
    args = [str(layout.config_dir), str(layout.data_dir), str(layout.log_dir), str(running.pid), installed.api_url]
    proc = run_as(NOBODY_UID, NOBODY_GID, TRADER_SCRIPT, args=args)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    denied = {k for k, (verdict, _) in result.items() if verdict == "denied"}
    assert denied == {
        "read secrets.yaml",
        "read admin_password.hash",
        "list config dir",
        "write accounts.yaml",
        "write risk_config.yaml",
        "create file in config dir",
        "write risk.db",
        "sqlite write risk.db",
        "write daemon.log",
        "delete risk.db",
        "kill daemon",
    }, result
    assert result["read risk.db"] == ["allowed", 2]
    assert result["read daemon.log"] == ["allowed", True]
    # The local API serves the trader read-only: snapshot yes, reload without the admin password no.
    assert result["local api"] == ["allowed", ["snapshot", 2, False, "unauthorized"]]
    # Nor can the trader stop or reconfigure the service through the product.
    for args in (("service", "stop", "--yes"), ("service", "uninstall", "--yes")):
        refused = cli(*args, "--root", str(installed.root), user=(NOBODY_UID, NOBODY_GID))
        assert refused.returncode == 4 and "✗ Run with sudo." in refused.stdout + refused.stderr
    assert running.proc.running() and ask_daemon(installed.api_url, 5) is not None


def test_doctor_on_the_healthy_running_install(installed: Installed, running: Running) -> None:
    result = cli("doctor", "--json", "--root", str(installed.root))
    report = json.loads(result.stdout)
    by_check: dict[str, list[str]] = {}
    for f in report["findings"]:
        by_check.setdefault(f["check"], []).append(f["status"])
    assert report["mode"] == "service"
    for check in ("directories", "permissions", "config", "secrets", "database", "daemon", "clock"):
        assert set(by_check[check]) == {"ok"}, (check, report["findings"])
    assert by_check["administrator"] == ["warning"]  # root at the keyboard: the stated limit of §11
    assert result.returncode == 0 and report["ok"] is True
    refused = json.loads(cli("doctor", "--vacuum", "--json", "--root", str(installed.root)).stdout)
    vacuum = [f for f in refused["findings"] if f["check"] == "vacuum"]
    assert vacuum == [{"check": "vacuum", "status": "error", "message": "the daemon is running",
                       "fix": "stop the service first (risk-manager service stop)"}]


def test_uninstall_purge_removes_everything_it_created() -> None:
    with staging_root() as root:
        layout = Layout.for_service(root)
        urls = {"api_url": "http://127.0.0.1:9", "user_hub_url": "http://127.0.0.1:9/u", "market_hub_url": "http://127.0.0.1:9/m"}
        write_service_config(layout.config_dir, urls, USERS)
        assert cli("service", "install", "--no-start", "--root", str(root)).returncode == 0
        kept = cli("service", "uninstall", "--root", str(root), stdin="UNINSTALL\n")
        assert kept.returncode == 0 and f"Config and data kept in {layout.config_dir}" in kept.stdout
        assert layout.db_path.exists() and not layout.unit_path.exists()
        assert passwd_entry(root, "risk-manager") is not None
        assert cli("service", "status", "--root", str(root)).returncode == 9
        cancelled = cli("service", "uninstall", "--purge", "--root", str(root), stdin="UNINSTALL\nno\n")
        assert cancelled.returncode == 1 and layout.config_dir.exists()
        purged = cli("service", "uninstall", "--purge", "--root", str(root), stdin="UNINSTALL\nPURGE\n")
        assert purged.returncode == 0, purged.stdout + purged.stderr
        assert not layout.config_dir.exists() and not layout.data_dir.exists() and not layout.log_dir.exists()
        assert passwd_entry(root, "risk-manager") is None
        assert "risk-manager:" not in (root / "etc/group").read_text()
