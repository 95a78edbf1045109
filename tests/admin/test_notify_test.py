"""``risk-manager admin test notify`` and Connection Testing › 4 (issue 15 item 6): a test message
through every channel of daemon.yaml to a real local HTTP receiver (Apprise's ``json://`` URL and
the JSON webhook; no network), one result per channel with the URL masked, secrets never shown,
exit 8 when a channel failed, and an audit row. The console runs as a real subprocess and in a real
pseudo-terminal; no daemon is needed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pexpect
import pytest

from .env import PASSWORD, AdminEnv

TOKEN = "TokSECRET9x7"
HOOK_SECRET = "hookSECRET42"


class Receiver:
    """A real HTTP server on 127.0.0.1: records every JSON POST by path; ``/broken`` answers 500."""

    def __init__(self) -> None:
        self.got: dict[str, list[dict[str, Any]]] = {}
        received = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0].strip("/")
                if path == "broken":
                    self.send_response(500)
                    self.end_headers()
                    return
                received.setdefault(path, []).append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AdminEnv]:
    e = AdminEnv(tmp_path / "notify", daemon=False, sim=False)
    yield e
    e.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_yaml(env: AdminEnv, receiver: Receiver, *, broken: bool) -> None:
    apprise = [f"json://127.0.0.1:{receiver.port}/alerts?token={TOKEN}"]
    if broken:
        apprise += [f"json://127.0.0.1:{receiver.port}/broken?token={TOKEN}", f"json://127.0.0.1:{closed_port()}/gone"]
    text = "version: 1\nnotifications:\n"
    text += f"  webhook_url: http://127.0.0.1:{receiver.port}/hook/{HOOK_SECRET}\n  apprise:\n"
    text += "".join(f"    - {url}\n" for url in apprise)
    (env.config / "daemon.yaml").write_text(text, encoding="utf-8")


def test_every_channel_gets_the_test_message_and_failures_are_reported_masked(
    env: AdminEnv, receiver: Receiver
) -> None:
    daemon_yaml(env, receiver, broken=True)
    result = env.run("test", "notify", "--text", "hello from the notify test")
    out = result.stdout + result.stderr
    assert result.returncode == 8, out  # a channel failed
    assert receiver.got["alerts"][0]["message"].startswith("hello from the notify test")
    (hook,) = receiver.got[f"hook/{HOOK_SECRET}"]
    assert hook["subject"] == "test" and hook["text"] == "hello from the notify test"
    flat = " ".join(out.split())
    assert f"Webhook http://127.0.0.1:{receiver.port}/*** ✓" in flat
    assert f"Apprise json://127.0.0.1:{receiver.port}/*** ✓" in flat
    rows = [line for line in out.splitlines() if "://" in line]
    assert len(rows) == 4 and sum("✗" in row for row in rows) == 2  # the 500 and the closed port
    assert "2 delivered, 2 failed" in out
    assert TOKEN not in out and HOOK_SECRET not in out and PASSWORD not in out
    audit = [json.loads(line) for line in (env.config / "audit.log").read_text().splitlines()]
    (row,) = [a for a in audit if a["action"] == "notify_test"]
    assert row["outcome"] == "2 failed" and TOKEN not in json.dumps(row) and HOOK_SECRET not in json.dumps(row)

    as_json = env.run("test", "notify", "--json")
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 8 and data["delivered"] == 2 and data["failed"] == 2
    assert [r["kind"] for r in data["results"]] == ["webhook", "apprise", "apprise", "apprise"]
    assert TOKEN not in as_json.stdout


def test_no_channel_and_an_invalid_daemon_yaml_are_explained(env: AdminEnv) -> None:
    result = env.run("test", "notify")
    assert result.returncode == 7, result.stdout + result.stderr
    assert "No notification channel to test: daemon.yaml does not exist." in result.stderr
    (env.config / "daemon.yaml").write_text("version: 1\nnotifications:\n  apprise:\n    - discrod://abc/def\n")
    result = env.run("test", "notify")
    assert result.returncode == 5
    assert "daemon.yaml › notifications.apprise[0].url (line 4)" in result.stderr
    assert "did you mean discord://" in result.stderr
    assert env.run("test", "pager").returncode == 2


def test_the_menu_sends_the_test_and_returns(env: AdminEnv, receiver: Receiver) -> None:
    daemon_yaml(env, receiver, broken=False)
    child = env.spawn()
    child.expect_exact("Admin password: ")
    child.sendline(PASSWORD)
    child.expect_exact("Select [0-7]: ")
    child.sendline("4")
    child.expect_exact("4. Send a test notification")
    child.expect_exact("Select [0-4]: ")
    child.sendline("4")
    child.expect_exact("Sending a test message to 2 channels")
    child.expect_exact("2 delivered, 0 failed: check that the message arrived.")
    child.expect_exact("Press Enter to continue")
    child.sendline("")
    child.expect_exact("Select [0-4]: ")
    child.sendline("0")
    child.expect_exact("Select [0-7]: ")
    child.sendline("0")
    child.expect(pexpect.EOF)
    assert len(receiver.got["alerts"]) == 1 and len(receiver.got[f"hook/{HOOK_SECRET}"]) == 1
