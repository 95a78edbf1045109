"""Malformed frames are answered ``bad_request`` and the connection lives on (issue 8 §5).

Before: a 5,000-digit integer raised ValueError out of the frame handler (websockets closed 1011 and
logged a traceback), deep nesting raised RecursionError the same way, and an integer beyond 64 bits
reached SQLite (OverflowError, an ``internal`` answer with a traceback).
"""

from __future__ import annotations

import logging

import pytest
from websockets.exceptions import ConnectionClosed

from risk_manager.daemon.api.protocol import RequestError, decode_frame

from .conftest import CannedProvider, OpenClient

HUGE_INT = "7" * 5000

MALFORMED: list[tuple[str, str | bytes, str | int | None, str]] = [
    (
        "5000-digit int in data",
        '{"id":"a","op":"history.trades","data":{"before":' + HUGE_INT + "}}",
        None,
        "digits",
    ),
    ("5000-digit id", '{"id":' + HUGE_INT + ',"op":"status"}', None, "digits"),
    (
        "int beyond 64 bits",
        '{"id":"b","op":"history.trades","data":{"before":18446744073709551616}}',
        "b",
        "data.before",
    ),
    ("id beyond 64 bits", '{"id":18446744073709551616,"op":"status"}', None, "'id'"),
    ("deep nesting", "[" * 30000 + "]" * 30000, None, "nested too deep"),
    (
        "deep nesting in data",
        '{"id":"c","op":"status","data":{"x":' + "[" * 20000 + "]" * 20000 + "}}",
        None,
        "nested",
    ),
    ("nested 500 is still no object", "[" * 500 + "]" * 500, None, "JSON object"),
    ("NaN", '{"id":"d","op":"history.pnl","data":{"limit":NaN}}', None, "NaN"),
    ("Infinity", '{"id":"e","op":"status","data":{"x":-Infinity}}', None, "Infinity"),
    ("float for an int", '{"id":"f","op":"snapshot","data":{"accountId":1e999}}', "f", "accountId"),
    ("list for an int", '{"id":"g","op":"snapshot","data":{"accountId":[12345]}}', "g", "accountId"),
    ("op of the wrong type", '{"id":"h","op":["status"]}', "h", "'op'"),
    ("bool id", '{"id":true,"op":"status"}', None, "'id'"),
    ("data is a string", '{"id":"i","op":"status","data":"x"}', "i", "'data'"),
    ("huge op name", '{"id":"j","op":"' + "x" * 60000 + '"}', "j", "unknown op"),
    ("huge id", '{"id":"' + "k" * 60000 + '","op":"status"}', None, "'id'"),
    ("binary", b"\x00\xff\xfe\x00" * 4000, None, "binary"),
    ("empty", "", None, "malformed JSON"),
]


@pytest.mark.parametrize(
    ("frame", "expected_id", "mentions"),
    [pytest.param(f, i, m, id=name) for name, f, i, m in MALFORMED],
)
async def test_malformed_frame_is_a_bad_request_and_the_connection_lives(
    open_client: OpenClient,
    caplog: pytest.LogCaptureFixture,
    frame: str | bytes,
    expected_id: str | None,
    mentions: str,
) -> None:
    client = await open_client()
    with caplog.at_level(logging.INFO):
        await client.ws.send(frame)
        reply = await client.response(expected_id)
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
        assert mentions in reply["error"]["message"]
        assert len(reply["error"]["message"]) < 400  # the frame is never echoed back whole
        assert (await client.request("status"))["ok"]  # the same connection still works
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_history_filter_of_the_wrong_type_never_reaches_the_store(
    provider: CannedProvider, open_client: OpenClient
) -> None:
    client = await open_client()
    await client.ws.send('{"id":"x","op":"history.trades","data":{"accountId":' + "9" * 25 + "}}")
    reply = await client.response("x")
    assert reply["error"]["code"] == "bad_request" and "data.accountId" in reply["error"]["message"]
    assert provider.history_calls == []


async def test_a_frame_over_64_kib_is_closed_1009_without_a_traceback(
    open_client: OpenClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await open_client()
    with caplog.at_level(logging.INFO):
        await client.ws.send('{"id":"big","op":"' + "x" * 70_000 + '"}')
        with pytest.raises(ConnectionClosed):
            await client.recv()
    assert client.ws.close_code == 1009
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_decode_frame_translates_every_decoder_limit() -> None:
    for frame in ("[" * 100_000, '{"a":' + HUGE_INT + "}", "NaN", b"{}", "{"):
        with pytest.raises(RequestError):
            decode_frame(frame)
    assert decode_frame('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


async def test_non_ascii_session_and_token_are_refused_not_crashed(
    open_client: OpenClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await open_client()
    with caplog.at_level(logging.INFO):
        reply = await client.request("reload_config", session="sé\udcff")
        assert reply["error"]["code"] == "unauthorized"
        reply = await client.request("auth", {"password": "x", "adminToken": "tökén"})
        assert reply["error"]["code"] == "unauthorized"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
