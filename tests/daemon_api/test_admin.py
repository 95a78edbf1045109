"""Admin sessions, the password check and admin commands (daemon.md §9.5, admin-cli.md §3)."""

from __future__ import annotations

import logging
import os
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from risk_manager.daemon.api.password import lock_duration
from risk_manager.daemon.api.server import LocalApi
from risk_manager.security.admin_token import read_token, write_token

from .conftest import PASSWORD, CannedProvider, Monotonic, OpenClient, StartApi

VALID_UNLOCK = {
    "accountId": 12345,
    "lockoutId": 88,
    "reason": "reviewed with the trader",
    "osUser": "pc\\jane",
}


async def test_admin_op_without_session_is_unauthorized(
    provider: CannedProvider, open_client: OpenClient
) -> None:
    client = await open_client()
    for session in (None, "forged-token"):
        reply = await client.request("unlock", VALID_UNLOCK, session=session)
        assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"
    reload = await client.request("reload_config")
    assert reload["error"]["code"] == "unauthorized"
    assert provider.unlocks == [] and provider.reloads == []
    assert [(a["action"], a["outcome"]) for a in provider.audits] == [
        ("lockout_unlocked", "unauthorized"),
        ("lockout_unlocked", "unauthorized"),
        ("reload_rejected", "unauthorized"),
    ]


async def test_login_then_unlock(provider: CannedProvider, open_client: OpenClient) -> None:
    provider.failures = 4  # earlier failures are forgotten on success
    client = await open_client()
    reply = await client.auth(PASSWORD, osUser="pc\\jane")
    assert reply["ok"] and reply["data"]["expiresIdleS"] == 900
    session = reply["data"]["session"]
    assert len(session) >= 43  # 32 random bytes, urlsafe base64
    assert provider.failures == 0 and provider.locked_until is None

    short = await client.request("unlock", {**VALID_UNLOCK, "reason": "because"}, session=session)
    assert short["error"]["code"] == "bad_request" and "'data.reason'" in short["error"]["message"]
    two = await client.request("unlock", {**VALID_UNLOCK, "all": True}, session=session)
    assert two["error"]["code"] == "bad_request" and "exactly one" in two["error"]["message"]
    none = await client.request(
        "unlock", {"accountId": 12345, "reason": "a long enough reason"}, session=session
    )
    assert none["error"]["code"] == "bad_request"
    no_account = await client.request(
        "unlock", {"all": True, "reason": "a long enough reason"}, session=session
    )
    assert "'data.accountId'" in no_account["error"]["message"]
    assert provider.unlocks == []

    done = await client.request("unlock", VALID_UNLOCK, session=session)
    assert done["ok"] and done["data"] == {"cleared": [88], "conditionStillTrue": False}
    data, actor = provider.unlocks[0]
    assert data["lockoutId"] == 88 and data["reason"] == "reviewed with the trader"
    assert (
        actor["osUser"] == "pc\\jane" and actor["session"] is True and actor["peer"].startswith("127.0.0.1:")
    )

    missing = await client.request("unlock", {**VALID_UNLOCK, "lockoutId": 999}, session=session)
    assert missing["error"]["code"] == "not_found"

    outcomes = [(a["action"], a["outcome"]) for a in provider.audits]
    assert outcomes == [
        ("admin_login", "ok"),
        ("lockout_unlocked", "bad_request"),
        ("lockout_unlocked", "bad_request"),
        ("lockout_unlocked", "bad_request"),
        ("lockout_unlocked", "bad_request"),
        ("lockout_unlocked", "ok"),
        ("lockout_unlocked", "not_found"),
    ]
    ok_row = provider.audits[5]
    assert ok_row["target"] == "account 12345 lockoutId 88" and ok_row["reason"] == "reviewed with the trader"


async def test_three_wrong_passwords_close_the_connection(
    provider: CannedProvider, open_client: OpenClient, mono: Monotonic
) -> None:
    client = await open_client()
    first = await client.auth("wrong-one")
    assert first["error"] == {
        "code": "auth_failed",
        "message": "Wrong password. 2 attempts left.",
        "retryAfterMs": 1000,
    }
    mono.advance(1.0)
    second = await client.auth("wrong-two")
    assert second["error"]["message"] == "Wrong password. 1 attempt left."
    assert second["error"]["retryAfterMs"] == 2000  # the back-off doubles
    mono.advance(2.0)
    third = await client.auth("wrong-three")
    assert third["error"] == {"code": "auth_failed", "message": "Wrong password."}
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.ws.close_code == 1008 and client.ws.close_reason == "too many failed password attempts"
    assert provider.failures == 3 and provider.locked_until is None
    assert [a["outcome"] for a in provider.audits] == ["wrong_password"] * 3
    assert all(a["action"] == "admin_login_failed" for a in provider.audits)
    # a new connection may try again; the persisted counter carries over
    again = await open_client()
    assert (await again.auth("wrong-four"))["error"]["code"] == "auth_failed"
    assert provider.failures == 4


async def test_back_off_between_attempts_on_one_connection(
    provider: CannedProvider, open_client: OpenClient, mono: Monotonic
) -> None:
    client = await open_client()
    assert (await client.auth("wrong-one"))["error"]["code"] == "auth_failed"
    # Too soon, even with the right password: refused unchecked, not counted, not audited.
    early = await client.auth(PASSWORD)
    assert early["error"]["code"] == "rate_limited" and early["error"]["retryAfterMs"] == 1000
    assert "Wait 1 s" in early["error"]["message"]
    mono.advance(0.5)
    assert (await client.auth(PASSWORD))["error"]["retryAfterMs"] == 500
    assert provider.failures == 1 and len(provider.audits) == 1
    mono.advance(0.5)
    assert (await client.auth(PASSWORD))["ok"]
    assert provider.failures == 0


async def test_tenth_consecutive_failure_locks_admin_login(
    provider: CannedProvider, open_client: OpenClient, mono: Monotonic
) -> None:
    provider.failures = 9  # nine failures from earlier launches, kept by the daemon's store
    client = await open_client()
    before = datetime.now(UTC)
    reply = await client.auth("still-wrong")
    assert reply["error"]["code"] == "auth_locked"
    assert 890 <= reply["error"]["retryAfterS"] <= 900
    assert provider.failures == 10
    assert provider.locked_until is not None
    assert timedelta(minutes=14) < provider.locked_until - before <= timedelta(minutes=15, seconds=1)
    # while locked even the right password is refused without being checked
    mono.advance(1.0)  # past the connection's back-off
    refused = await client.auth(PASSWORD)
    assert refused["error"]["code"] == "auth_locked" and refused["error"]["retryAfterS"] > 0
    assert "Try again in" in refused["error"]["message"]
    assert provider.failures == 10
    assert [(a["action"], a["outcome"]) for a in provider.audits] == [
        ("admin_login_failed", "wrong_password"),
        ("admin_locked", "locked"),
        ("admin_locked", "refused"),
    ]


async def test_failure_after_an_expired_lockout_doubles_it(
    provider: CannedProvider, open_client: OpenClient
) -> None:
    provider.failures = 10
    provider.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    client = await open_client()
    reply = await client.auth("nope-again")
    assert reply["error"]["code"] == "auth_locked"
    assert 1790 <= reply["error"]["retryAfterS"] <= 1800
    assert "30 min" in reply["error"]["message"]


async def test_success_after_expired_lockout_resets_the_counter(
    provider: CannedProvider, open_client: OpenClient
) -> None:
    provider.failures = 12
    provider.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    client = await open_client()
    await client.login()
    assert provider.saved[-1] == (0, None)


def test_lock_durations_double_up_to_a_day() -> None:
    assert lock_duration(9) is None
    assert lock_duration(10) == timedelta(minutes=15)
    assert lock_duration(11) == timedelta(minutes=30)
    assert lock_duration(14) == timedelta(hours=4)
    assert lock_duration(16) == timedelta(hours=16)
    assert lock_duration(17) == timedelta(hours=24)
    assert lock_duration(1000) == timedelta(hours=24)


async def test_session_is_bound_to_its_connection(provider: CannedProvider, open_client: OpenClient) -> None:
    owner = await open_client()
    session = await owner.login()
    thief = await open_client()
    reply = await thief.request("reload_config", session=session)
    assert reply["error"]["code"] == "unauthorized"
    assert provider.reloads == []


async def test_session_expires_after_idle_time(start_api: StartApi, open_client: OpenClient) -> None:
    now = [1000.0]
    api = await start_api(monotonic=lambda: now[0])
    client = await open_client(api)
    session = await client.login()
    now[0] += 14 * 60
    assert (await client.request("reload_config", session=session))["ok"]  # use refreshes the idle timer
    now[0] += 14 * 60
    assert (await client.request("reload_config", session=session))["ok"]
    now[0] += 15 * 60 + 1
    expired = await client.request("reload_config", session=session)
    assert expired["error"]["code"] == "unauthorized" and "expired" in expired["error"]["message"]
    now[0] += 1
    again = await client.request("reload_config", session=session)
    assert again["error"]["code"] == "unauthorized"


async def test_logout_ends_the_session(provider: CannedProvider, open_client: OpenClient) -> None:
    client = await open_client()
    session = await client.login()
    bye = await client.request("logout", session=session)
    assert bye["ok"] and bye["data"] == {"loggedOut": True}
    after = await client.request("unlock", VALID_UNLOCK, session=session)
    assert after["error"]["code"] == "unauthorized"
    assert ("admin_logout", "ok") in [(a["action"], a["outcome"]) for a in provider.audits]


async def test_reload_config(provider: CannedProvider, open_client: OpenClient) -> None:
    client = await open_client()
    session = await client.login()
    ok = await client.request("reload_config", {"osUser": "pc\\jane"}, session=session)
    assert ok["ok"] and ok["data"] == {
        "applied": True,
        "changes": ["rules.RULE-003.limit"],
        "restartRequired": [],
    }
    assert provider.reloads[0]["osUser"] == "pc\\jane"
    provider.reload_errors = [
        {"file": "rules.yaml", "path": "rules.RULE-003.limit", "line": 12, "message": "must be > 0"}
    ]
    bad = await client.request("reload_config", session=session)
    assert bad["ok"] is False and bad["error"]["code"] == "config_invalid"
    assert bad["error"]["errors"] == provider.reload_errors
    assert "1 error" in bad["error"]["message"]
    actions = [(a["action"], a["outcome"]) for a in provider.audits]
    assert actions[-2:] == [("config_reloaded", "ok"), ("reload_rejected", "config_invalid")]


async def test_missing_hash_file_means_no_password_set(
    provider: CannedProvider, hash_file: Path, open_client: OpenClient
) -> None:
    hash_file.unlink()
    client = await open_client()
    reply = await client.auth(PASSWORD)
    assert reply["error"]["code"] == "auth_failed"
    assert "No admin password is set" in reply["error"]["message"]
    assert provider.failures == 0  # not a wrong password
    assert provider.audits[-1]["outcome"] == "no_password"


@pytest.mark.parametrize("content", ["not a hash", "$argon2id$v=19$m=8,t=1,p=1$broken", "$2b$12$bcrypthash"])
async def test_corrupt_hash_file_is_reported_not_treated_as_unset(
    provider: CannedProvider, hash_file: Path, open_client: OpenClient, content: str
) -> None:
    hash_file.write_text(content, "utf-8")
    client = await open_client()
    reply = await client.auth(PASSWORD)
    assert reply["error"]["code"] == "internal"
    assert f"Admin password file is corrupt: {hash_file}" in reply["error"]["message"]
    assert "password reset" in reply["error"]["message"]
    assert provider.failures == 0


async def test_hash_file_is_reread_on_every_attempt(
    hash_file: Path, open_client: OpenClient, mono: Monotonic
) -> None:
    from argon2 import PasswordHasher

    client = await open_client()
    await client.login()
    hash_file.write_text(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("a new password!"))
    assert (await client.auth(PASSWORD))["error"]["code"] == "auth_failed"
    mono.advance(1.0)
    assert (await client.auth("a new password!"))["ok"]


async def test_auth_needs_a_password_field(provider: CannedProvider, open_client: OpenClient) -> None:
    client = await open_client()
    reply = await client.request("auth", {"pass": PASSWORD, "adminToken": client.token()})
    assert reply["error"]["code"] == "bad_request" and "'data.password'" in reply["error"]["message"]
    assert provider.audits[-1]["outcome"] == "bad_request"


async def test_password_never_appears_in_logs_or_audit(
    provider: CannedProvider,
    open_client: OpenClient,
    caplog: pytest.LogCaptureFixture,
    api: LocalApi,
    mono: Monotonic,
) -> None:
    provider.reload_errors = [{"file": "daemon.yaml", "path": "api.port", "line": 3, "message": "not an int"}]
    with caplog.at_level(logging.DEBUG):
        client = await open_client()
        await client.auth("wrong-secret-value")
        mono.advance(1.0)
        session = await client.login()
        await client.request("reload_config", session=session)
        await client.request("unlock", VALID_UNLOCK, session=session)
    # the test's own client library logs its outgoing frames; only the daemon side is checked here
    server_lines = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client")]
    assert any("local API client connected" in line for line in server_lines)
    text = "\n".join(server_lines) + repr(provider.audits) + repr(provider.saved)
    assert "wrong-secret-value" not in text and PASSWORD not in text
    assert session not in text


# ----- the admin token (issue 8 §5: the password lock must not be a weapon) ----------------------------


async def test_token_file_is_fresh_private_and_removed_at_stop(start_api: StartApi, token_file: Path) -> None:
    first = await start_api()
    token = token_file.read_text("ascii").strip()
    assert len(token) >= 43  # 32 random bytes
    if sys.platform != "win32":
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.stat().st_uid == os.geteuid()
    assert [p.name for p in token_file.parent.iterdir()] == ["admin.token"]  # no temporary left over
    await first.stop()
    assert not token_file.exists()
    await start_api()
    assert token_file.read_text("ascii").strip() != token  # a new token at every start


@pytest.mark.parametrize(
    ("token", "outcome"),
    [(None, "no_admin_token"), ("not-the-token", "wrong_admin_token"), (12345, "wrong_admin_token")],
)
async def test_auth_without_the_token_is_refused_before_the_password(
    provider: CannedProvider, open_client: OpenClient, token: object, outcome: str
) -> None:
    client = await open_client()
    data: dict[str, object] = {"password": PASSWORD}
    if token is not None:
        data["adminToken"] = token
    reply = await client.request("auth", data)
    assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"
    assert "admin token" in reply["error"]["message"] and "OS administrators" in reply["error"]["message"]
    assert "admin.token" in reply["error"]["message"]
    assert PASSWORD not in reply["error"]["message"]
    # the right password did not help, and nothing looked at it or at the failure counter
    assert provider.auth_loads == 0 and provider.failures == 0 and provider.saved == []
    assert [(a["action"], a["outcome"]) for a in provider.audits] == [("admin_login_failed", outcome)]
    # the back-off is for token holders: the real admin may log in at once on the same connection
    assert (await client.auth(PASSWORD))["ok"]


async def test_ten_wrong_passwords_without_the_token_never_lock_the_admin_out(
    provider: CannedProvider, open_client: OpenClient
) -> None:
    closed = 0
    for n in range(4):  # 12 attempts over 4 connections: 3 each, then the daemon closes it
        attacker = await open_client()
        for attempt in range(3):
            reply = await attacker.auth(f"guess-{n}-{attempt}", token=False)
            assert reply["error"]["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            await attacker.recv()
        closed += attacker.ws.close_code == 1008
    assert closed == 4
    assert provider.failures == 0 and provider.locked_until is None and provider.auth_loads == 0
    admin = await open_client()
    assert (await admin.auth(PASSWORD))["ok"]


async def test_without_a_token_file_admin_login_is_unavailable_but_the_api_runs(
    start_api: StartApi, open_client: OpenClient, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    api = await start_api(admin_token_path=blocker / "admin.token")
    client = await open_client(api)
    assert (await client.request("status"))["ok"]
    reply = await client.request("auth", {"password": PASSWORD, "adminToken": "anything"})
    assert reply["error"]["code"] == "unauthorized" and "could not write" in reply["error"]["message"]


@pytest.mark.skipif(sys.platform != "win32", reason="Windows ACLs")
def test_token_file_acl_admits_system_administrators_and_the_daemon_only(tmp_path: Path) -> None:
    import win32api  # type: ignore[import-not-found]
    import win32security  # type: ignore[import-not-found]

    path = tmp_path / "admin.token"
    write_token(path, "secret-token")
    info = win32security.GetNamedSecurityInfo(
        str(path), win32security.SE_FILE_OBJECT, win32security.DACL_SECURITY_INFORMATION
    )
    dacl = info.GetSecurityDescriptorDacl()
    control, _ = info.GetSecurityDescriptorControl()
    assert control & win32security.SE_DACL_PROTECTED  # nothing inherited from the directory
    process = win32security.OpenProcessToken(win32api.GetCurrentProcess(), win32security.TOKEN_QUERY)
    me = win32security.GetTokenInformation(process, win32security.TokenUser)[0]
    expected = {
        win32security.ConvertSidToStringSid(sid)
        for sid in (
            win32security.CreateWellKnownSid(win32security.WinLocalSystemSid, None),
            win32security.CreateWellKnownSid(win32security.WinBuiltinAdministratorsSid, None),
            me,
        )
    }
    aces = [dacl.GetAce(i) for i in range(dacl.GetAceCount())]
    assert {win32security.ConvertSidToStringSid(ace[2]) for ace in aces} == expected
    assert all(ace[0][0] == win32security.ACCESS_ALLOWED_ACE_TYPE for ace in aces)
    assert read_token(path) == "secret-token"
