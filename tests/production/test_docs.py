"""The guides and the README agree with what tests/production runs (fast, no root needed).

The production test runs every Linux command of docs/INSTALLATION_GUIDE.md; these checks keep the
mapping honest without running anything: the README's service lines are commands of the guide, every
guide command can be staged (no path outside the staging root), and every link resolves.
"""

from __future__ import annotations

import re
from pathlib import Path

from .guide import GUIDE_PATH, Guide, linux_commands, troubleshooting_messages

REPO = GUIDE_PATH.parents[1]


def readme_service_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Install as a service", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [part.strip() for line in block.splitlines() for part in line.split(" && ") if part.strip()]


def test_the_readme_installs_with_commands_of_the_tested_guide() -> None:
    commands = readme_service_commands()
    assert len(commands) >= 4
    assert [c for c in commands if c not in linux_commands()] == []


def test_every_guide_command_stays_inside_a_staging_root(tmp_path: Path) -> None:
    guide = Guide(
        tmp_path, placeholders={"trader@example.com": "alice", "partner@example.com": "bob"}, secrets={}
    )
    commands = linux_commands()
    assert len(commands) >= 20
    for command in commands:
        staged = guide.transform(command)
        for path in ("/opt/risk-manager", "/etc/risk-manager", "/usr/local/bin"):
            assert f" {path}" not in f" {staged}", staged
    assert guide.transform("sudo rm -rf /opt/risk-manager /usr/local/bin/risk-manager") == (
        f"sudo rm -rf {tmp_path}/opt/risk-manager {tmp_path}/usr/local/bin/risk-manager"
    )


def test_the_guard_refuses_a_system_path(tmp_path: Path) -> None:
    guide = Guide(tmp_path, placeholders={}, secrets={})
    for command in ("sudo rm -rf /etc/passwd", "sudo cp x /usr/bin/risk-manager", "cat /root/.bashrc"):
        try:
            guide.transform(command)
        except AssertionError as exc:
            assert "outside the staging root" in str(exc)
        else:
            raise AssertionError(f"{command!r} was not refused")


def test_the_troubleshooting_table_lists_messages() -> None:
    messages = troubleshooting_messages()
    assert len(messages) >= 12
    assert "✗ Run with sudo." in messages


def test_links_resolve() -> None:
    for doc in ("README.md", "docs/INSTALLATION_GUIDE.md"):
        text = (REPO / doc).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (REPO / doc).parent.joinpath(target).exists(), (doc, target)
