"""SignalR JSON hub protocol framing, shared by our client and the simulator's hubs.

Messages are JSON objects terminated by the record separator 0x1E; one WebSocket text frame may
carry several records or a partial one, so a splitter keeps the remainder between frames.
"""

from __future__ import annotations

import json
from typing import Any

RS = "\x1e"

# Message types (SignalR hub protocol).
INVOCATION = 1
STREAM_ITEM = 2
COMPLETION = 3
STREAM_INVOCATION = 4
CANCEL_INVOCATION = 5
PING = 6
CLOSE = 7

HANDSHAKE_REQUEST = {"protocol": "json", "version": 1}


def encode(message: dict[str, Any]) -> str:
    """One record: compact JSON plus the record separator."""
    return json.dumps(message, separators=(",", ":")) + RS


def encode_many(messages: list[dict[str, Any]]) -> str:
    return "".join(encode(m) for m in messages)


class FrameSplitter:
    """Accumulates text and yields complete records (decoded JSON or the raw text on decode error)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = ""

    def feed(self, text: str) -> list[str]:
        """Return the complete raw records in ``text`` (without separators), keeping any remainder."""
        if self._buf:
            text = self._buf + text
        parts = text.split(RS)
        self._buf = parts.pop()
        return [p for p in parts if p]

    @property
    def pending(self) -> str:
        return self._buf


def invocation(target: str, arguments: list[Any], invocation_id: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": INVOCATION, "target": target, "arguments": arguments}
    if invocation_id is not None:
        msg["invocationId"] = invocation_id
    return msg


def completion(invocation_id: str, result: Any = None, error: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": COMPLETION, "invocationId": invocation_id}
    if error is not None:
        msg["error"] = error
    else:
        msg["result"] = result
    return msg
