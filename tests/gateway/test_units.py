"""Pure pieces: JWT exp, URLs, payload normalisation, backoff, body encoding."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from risk_manager.gateway.backoff import reconnect_delay
from risk_manager.gateway.payloads import market_items, unwrap, user_items
from risk_manager.gateway.rest import format_ts
from risk_manager.gateway.session import encode_body
from risk_manager.gateway.tokens import SessionToken, jwt_exp
from risk_manager.gateway.urls import append_path, redact_url, to_http, to_ws, with_query


def _jwt(claims: dict[str, object]) -> str:
    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'HS256'})}.{seg(claims)}.c2ln"


def test_jwt_exp() -> None:
    assert jwt_exp(_jwt({"sub": "x", "exp": 1763740800})) == 1763740800
    assert jwt_exp("not-a-jwt") is None
    assert jwt_exp(_jwt({"sub": "x"})) is None
    token = SessionToken.from_value("opaque", now=1000.0)
    assert token.expires_at == 1000.0 + 24 * 3600  # issue time + 24 h when exp is unreadable
    assert "opaque" not in repr(token) and "opaque" not in str(token)


def test_needs_refresh() -> None:
    token = SessionToken.from_value(_jwt({"exp": 1000 + 24 * 3600}), now=1000.0)
    assert not token.needs_refresh(3600, now=1000.0 + 22 * 3600)
    assert token.needs_refresh(3600, now=1000.0 + 23 * 3600 + 1)
    short = SessionToken.from_value(_jwt({"exp": 1010}), now=1000.0)  # 10 s token: margin 5 s
    assert not short.needs_refresh(3600, now=1004.0)
    assert short.needs_refresh(3600, now=1006.0)


def test_urls() -> None:
    assert to_ws("https://rtc.topstepx.com/hubs/user") == "wss://rtc.topstepx.com/hubs/user"
    assert to_ws("ws://127.0.0.1:5/hubs/user") == "ws://127.0.0.1:5/hubs/user"
    assert to_http("wss://h/hubs/user") == "https://h/hubs/user"
    assert append_path("http://h/hubs/user?x=1", "/negotiate") == "http://h/hubs/user/negotiate?x=1"
    url = with_query("http://h/hubs/user?x=1", id="abc", access_token="t.o.k")
    assert url == "http://h/hubs/user?x=1&id=abc&access_token=t.o.k"
    assert redact_url(url) == "http://h/hubs/user"
    with pytest.raises(ValueError):
        to_ws("ftp://h/x")


def test_user_payloads() -> None:
    bare = {"id": 1, "data": {"x": 1}}
    assert unwrap(bare) is bare  # has an id: bare object, even with a data member
    assert unwrap({"action": 1, "data": {"id": 2}}) == {"id": 2}
    items, why = user_items([[{"action": 1, "data": {"id": 1}}, {"id": 2}, 7]])
    assert items == [{"id": 1}, {"id": 2}] and why is not None
    assert user_items([]) == ([], "no arguments")


def test_market_payloads() -> None:
    items, why = market_items(["CON.F.US.MNQ.Z25", [{"price": 1}, {"price": 2}]])
    assert why is None and [i["contractId"] for i in items] == ["CON.F.US.MNQ.Z25"] * 2
    items, why = market_items(["C", {"symbol": "F.US.MNQ", "bestBid": 1}])
    assert items == [{"symbol": "F.US.MNQ", "bestBid": 1, "contractId": "C"}]
    assert market_items([{"x": 1}])[1] is not None


def test_backoff_schedule() -> None:
    rng = random.Random(1)
    assert reconnect_delay(0, rng=rng) == 0
    delays = [reconnect_delay(n, rng=rng) for n in range(1, 12)]
    assert 0.8 <= delays[0] <= 1.2 and 4 <= delays[2] <= 6
    assert all(24 <= d <= 36 for d in delays[4:])  # capped at 30 s ± 20 %, forever


def test_encoding() -> None:
    body = json.loads(encode_body({"stopPrice": Decimal("24480.25"), "size": Decimal("2")}))
    assert body == {"stopPrice": 24480.25, "size": 2}
    assert format_ts(datetime(2025, 11, 20, 10, 4, 5, 999, tzinfo=timezone(timedelta(hours=-5)))) == (
        "2025-11-20T15:04:05Z"
    )
    assert format_ts(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        format_ts(datetime(2025, 1, 1))  # noqa: DTZ001 - naive on purpose


def test_reconnect_schedule_is_fast_during_an_outage_then_backs_off() -> None:
    from risk_manager.gateway.backoff import ReconnectSchedule

    s = ReconnectSchedule(fast=(0.0, 0.25, 0.5), slow=(0.0, 1.0, 2.0, 5.0), fast_for_s=120.0, jitter=0.0)
    fast = [s.next(outage_s=t) for t in (0.0, 0.5, 1.0, 30.0, 119.0)]
    assert fast == [0.0, 0.25, 0.5, 0.5, 0.5]
    slow = [s.next(outage_s=t) for t in (121.0, 122.0, 125.0, 130.0, 200.0)]
    assert slow == [0.0, 1.0, 2.0, 5.0, 5.0]  # a long outage: the slow schedule from its start
    assert s.next(outage_s=300.0, retry_after_s=30.0) == 30.0  # the broker asked: always honoured
    s.reset()
    assert s.next(outage_s=0.0) == 0.0 and s.next(outage_s=0.3) == 0.25
