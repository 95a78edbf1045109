"""A notifier sink that keeps every message (what the daemon told the world, in order)."""

from __future__ import annotations

from typing import TypeVar

from risk_manager.daemon.notify import Message

M = TypeVar("M", bound=Message)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, kind: type[M], account: int | None = None) -> list[M]:
        return [
            m for m in self.messages if isinstance(m, kind) and (account is None or m.account_id == account)
        ]
