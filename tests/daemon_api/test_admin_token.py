"""The admin channel (docs/local-api.md): ``auth`` needs the token from the daemon's data directory.

Without it the daemon refuses at once, without checking the password or counting a failure, so a
process that cannot read the token (not an OS administrator) can neither guess nor lock the admin out.
"""

from __future__ import annotations

from .conftest import PASSWORD, CannedProvider, OpenClient, StartApi

TOKEN = "token-from-the-data-dir"


async def test_auth_without_the_admin_token_is_refused_and_not_counted(
    provider: CannedProvider, start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api(admin_token=TOKEN)
    client = await open_client(api)
    for data in (
        {"password": PASSWORD},
        {"password": PASSWORD, "adminToken": "guess"},
        {"password": "wrong"},
    ):
        reply = await client.request("auth", data)
        assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"
        assert "admin token" in reply["error"]["message"]
    assert provider.failures == 0 and provider.saved == []  # nothing counted, no argon2 work
    assert [a["outcome"] for a in provider.audits] == ["no_admin_token"] * 3
    ok = await client.request("auth", {"password": PASSWORD, "adminToken": TOKEN})
    assert ok["ok"] and ok["data"]["session"]


async def test_a_wrong_password_with_the_token_counts(
    provider: CannedProvider, start_api: StartApi, open_client: OpenClient
) -> None:
    api = await start_api(admin_token=TOKEN)
    client = await open_client(api)
    reply = await client.request("auth", {"password": "not it", "adminToken": TOKEN})
    assert reply["error"]["code"] == "auth_failed"
    assert provider.failures == 1


async def test_unlock_accepts_the_snapshots_lockout_ids(
    provider: CannedProvider, open_client: OpenClient
) -> None:
    client = await open_client()
    session = await client.login()
    reply = await client.request(
        "unlock",
        {"accountId": 12345, "lockoutId": "L7", "reason": "reviewed with the trader"},
        session=session,
    )
    assert reply["ok"], reply
    assert provider.unlocks[-1][0]["lockoutId"] == "L7"
    bad = await client.request(
        "unlock", {"accountId": 12345, "lockoutId": "", "reason": "reviewed with the trader"}, session=session
    )
    assert bad["error"]["code"] == "bad_request" and "data.lockoutId" in bad["error"]["message"]
