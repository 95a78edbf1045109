"""Requests, responses and the error vocabulary of the local API (daemon.md §9.4, §9.7)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from risk_manager.daemon.api.limits import ApiLimits, Rate
from risk_manager.daemon.api.protocol import ERROR_CODES, LocalApiError, parse_request
from risk_manager.daemon.api.server import LocalApi

from .conftest import CannedProvider, OpenClient, StartApi


async def test_response_envelope_echoes_the_id(open_client: OpenClient) -> None:
    client = await open_client()
    reply = await client.request("history.enforcement", {"accountId": 12345, "before": 311, "limit": 50})
    assert reply["v"] == 1 and reply["type"] == "response" and reply["seq"] == 2
    assert reply["id"] == "r1" and reply["ok"] is True
    assert reply["data"] == {"items": [{"op": "history.enforcement"}], "more": False}
    assert list(reply)[:4] == ["v", "type", "seq", "ts"]


async def test_history_ops_reach_the_provider(provider: CannedProvider, open_client: OpenClient) -> None:
    client = await open_client()
    for op in ("history.lockouts", "history.pnl", "history.trades"):
        assert (await client.request(op, {"accountId": 12345}))["ok"]
    assert [call[0] for call in provider.history_calls] == [
        "history.lockouts",
        "history.pnl",
        "history.trades",
    ]


async def test_snapshot_and_status_requests(provider: CannedProvider, open_client: OpenClient) -> None:
    client = await open_client()
    reply = await client.request("snapshot", {"accountId": 12345})
    assert (
        reply["ok"] and reply["data"]["protocol"] == 1 and reply["data"]["accounts"][0]["accountId"] == 12345
    )
    assert provider.snapshot_calls[-1] == 12345
    missing = await client.request("snapshot", {"accountId": 777})
    assert missing["ok"] is False and missing["error"]["code"] == "not_found"
    assert "777" in missing["error"]["message"]
    bad = await client.request("snapshot", {"accountId": "12345"})
    assert bad["error"]["code"] == "bad_request" and "accountId" in bad["error"]["message"]
    status = await client.request("status")
    assert status["ok"] and status["data"]["state"] == "running"


@pytest.mark.parametrize(
    ("frame", "expected_id", "mentions"),
    [
        ("{not json", None, "malformed JSON"),
        ("[1, 2]", None, "JSON object"),
        ('{"op": "status"}', None, "'id'"),
        ('{"id": "a", "op": "explode"}', "a", "'explode'"),
        ('{"id": "b"}', "b", "'op'"),
        ('{"id": "c", "op": "status", "data": [1]}', "c", "'data'"),
        ('{"id": "d", "op": "unlock", "session": 5}', "d", "'session'"),
    ],
)
async def test_bad_requests_name_the_problem(
    open_client: OpenClient, frame: str, expected_id: str | None, mentions: str
) -> None:
    client = await open_client()
    await client.ws.send(frame)
    reply = await client.response(expected_id)
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    assert mentions in reply["error"]["message"]
    # the connection survives a bad request
    assert (await client.request("status"))["ok"]


async def test_binary_frame_is_a_bad_request(open_client: OpenClient) -> None:
    client = await open_client()
    await client.ws.send(b'{"id": "x", "op": "status"}')
    reply = await client.response(None)
    assert reply["error"]["code"] == "bad_request" and "binary" in reply["error"]["message"]


async def test_busy_after_ten_requests_in_flight(
    provider: CannedProvider, open_client: OpenClient, start_api: StartApi
) -> None:
    provider.history_gate = asyncio.Event()
    api = await start_api(limits=ApiLimits(history=Rate(per_s=100.0, burst=100.0)))
    client = await open_client(api)
    ids = [await client.send_request("history.trades", {"accountId": 12345}) for _ in range(10)]
    extra = await client.send_request("history.trades", {"accountId": 12345})
    busy = await client.response(extra)
    assert busy["ok"] is False and busy["error"]["code"] == "busy"
    assert provider.history_entered == 10
    provider.history_gate.set()
    for request_id in ids:
        assert (await client.response(request_id))["ok"]
    assert (await client.request("history.trades", {"accountId": 12345}))["ok"]  # capacity is back


async def test_unexpected_provider_failure_is_internal_with_a_reference(
    provider: CannedProvider, open_client: OpenClient, caplog: pytest.LogCaptureFixture
) -> None:
    provider.history_raises = RuntimeError("database is locked")
    client = await open_client()
    with caplog.at_level(logging.ERROR, logger="risk_manager.daemon.api.server"):
        reply = await client.request("history.pnl", {"accountId": 12345})
    assert reply["error"]["code"] == "internal"
    ref = reply["error"]["message"].split("ref ")[1].rstrip(")")
    assert ref in caplog.text and "database is locked" in caplog.text
    assert "database is locked" not in reply["error"]["message"]


async def test_provider_api_error_passes_through(provider: CannedProvider, open_client: OpenClient) -> None:
    provider.history_raises = LocalApiError("bad_request", "field 'data.limit' must be between 1 and 500")
    client = await open_client()
    reply = await client.request("history.pnl", {"limit": 10_000})
    assert reply["error"] == {
        "code": "bad_request",
        "message": "field 'data.limit' must be between 1 and 500",
    }


def test_error_codes_are_exactly_the_spec_list() -> None:
    assert ERROR_CODES == {
        "bad_request", "unauthorized", "auth_failed", "auth_locked", "not_found",
        "config_invalid", "unsupported_protocol", "busy", "rate_limited", "internal",
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown API error code"):
        LocalApiError("oops", "x")


def test_parse_request_accepts_the_documented_shape() -> None:
    req = parse_request(json.dumps({"id": "7", "op": "unlock", "data": {"accountId": 1}, "session": "s"}))
    assert (req.id, req.op, req.data, req.session) == ("7", "unlock", {"accountId": 1}, "s")
    assert parse_request('{"id": 3, "op": "status"}').data == {}


async def test_a_pushed_decimal_is_a_string(api: LocalApi, open_client: OpenClient) -> None:
    from decimal import Decimal

    client = await open_client()
    api.push("account", {"realized": Decimal("-494.50")}, account_id=12345)
    msg = await client.recv()
    assert msg["data"]["realized"] == "-494.50" and msg["accountId"] == 12345


async def test_unencodable_provider_data_is_internal_without_a_seq_gap(
    provider: CannedProvider, open_client: OpenClient, api: LocalApi
) -> None:
    async def history(op: str, data: dict) -> dict:
        return {"items": [object()], "more": False}

    provider.history = history  # type: ignore[method-assign]
    client = await open_client()
    reply = await client.request("history.trades", {})
    assert reply["error"]["code"] == "internal" and reply["seq"] == 2
    api.push("status", {"bad": object()})  # dropped and logged, never raised into the caller
    api.push("status", {"state": "running"})
    assert (await client.recv())["seq"] == 3
