"""Daemon logging: ``daemon.log``, ``error.log`` and ``enforcement.jsonl`` through one writer thread.

Records go through a queue to a listener thread, so the event loop never waits for the disk
(spec/daemon.md §7). The queue is bounded (``LOG_QUEUE_SIZE``): when the log disk stalls, new records
are dropped and counted rather than held, and the count is written once the queue drains. Every
handler redacts secrets. ``daemon.log`` lines have a fixed field order so the
admin console can parse them::

    2025-11-20 15:04:09.551 INFO  acct=12345 rule=RULE-003 engine  Daily realized loss breached: ...
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from risk_manager.daemon.logs.redact import RedactingFilter, SecretRedactor

ENFORCEMENT_LOGGER = "risk_manager.enforcement"
LOG_QUEUE_SIZE = 10_000


class BoundedQueueHandler(logging.handlers.QueueHandler):
    """A ``QueueHandler`` that never blocks and never raises: a full queue drops the record, counts
    it, and the next record that fits carries a note of how many were lost."""

    def __init__(self, q: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(q)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        q = self.queue
        assert isinstance(q, queue.Queue)
        try:
            if self.dropped:
                note = logging.LogRecord(
                    "risk_manager.daemon.logs",
                    logging.WARNING,
                    __file__,
                    0,
                    "%d log records were dropped: the log files could not keep up",
                    (self.dropped,),
                    None,
                )
                q.put_nowait(self.prepare(note))
                self.dropped = 0
            q.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class LineFormatter(logging.Formatter):
    """UTC time, level, acct=, rule=, component, message (fields always in this order)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        acct = getattr(record, "acct", None)
        rule = getattr(record, "rule", None)
        component = record.name.rsplit(".", 1)[-1]
        line = (
            f"{ts} {record.levelname:<5} acct={acct if acct is not None else '-'} "
            f"rule={rule or '-'} {component:<8} {record.getMessage()}"
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line; the finished line passes the same secret redaction as every other
    log line (a reason or a broker result could quote a token)."""

    def __init__(self, redactor: SecretRedactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        payload = getattr(record, "payload", None)
        if payload is None:
            payload = {"message": record.getMessage()}
        line = json.dumps(payload, separators=(",", ":"), default=str)
        return self._redactor(line) if self._redactor is not None else line


class LogSystem:
    """Owns the queue listener; ``stop()`` flushes and closes the files."""

    def __init__(self, listener: logging.handlers.QueueListener, redactor: SecretRedactor) -> None:
        self._listener = listener
        self.redactor = redactor

    def stop(self) -> None:
        self._listener.stop()
        for handler in self._listener.handlers:
            handler.flush()
            handler.close()
        root = logging.getLogger("risk_manager")
        for handler in list(root.handlers):
            root.removeHandler(handler)
        enforcement = logging.getLogger(ENFORCEMENT_LOGGER)
        for handler in list(enforcement.handlers):
            enforcement.removeHandler(handler)


def setup_logging(
    log_dir: Path, *, debug: bool = False, console: bool = True, level: str = "INFO"
) -> LogSystem:
    log_dir.mkdir(parents=True, exist_ok=True)
    redactor = SecretRedactor()
    redact = RedactingFilter(redactor)
    fmt = LineFormatter()

    main = logging.handlers.RotatingFileHandler(
        log_dir / "daemon.log", maxBytes=10 * 1024 * 1024, backupCount=10, encoding="utf-8"
    )
    main.setFormatter(fmt)
    main.setLevel(logging.DEBUG if debug else getattr(logging, level, logging.INFO))
    errors = logging.handlers.RotatingFileHandler(
        log_dir / "error.log", maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    errors.setFormatter(fmt)
    errors.setLevel(logging.ERROR)
    enforcement = logging.handlers.TimedRotatingFileHandler(
        log_dir / "enforcement.jsonl", when="midnight", backupCount=90, encoding="utf-8", utc=True
    )
    enforcement.setFormatter(JsonLineFormatter(redactor))
    enforcement.addFilter(lambda r: r.name == ENFORCEMENT_LOGGER)
    for h in (main, errors):
        h.addFilter(lambda r: r.name != ENFORCEMENT_LOGGER)
    handlers: list[logging.Handler] = [main, errors, enforcement]
    if console:
        term: logging.Handler = logging.StreamHandler(sys.stderr)
        term.setFormatter(fmt)
        term.setLevel(logging.INFO)
        term.addFilter(lambda r: r.name != ENFORCEMENT_LOGGER)
        handlers.append(term)
    for handler in handlers:
        handler.addFilter(redact)

    q: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=LOG_QUEUE_SIZE)
    qh = BoundedQueueHandler(q)
    qh.addFilter(redact)  # redact before the record leaves the loop thread (args are formatted there)
    root = logging.getLogger("risk_manager")
    root.setLevel(logging.DEBUG)
    root.addHandler(qh)
    enf = logging.getLogger(ENFORCEMENT_LOGGER)
    enf.propagate = True
    listener = logging.handlers.QueueListener(q, *handlers, respect_handler_level=True)
    listener.start()
    return LogSystem(listener, redactor)


def log_enforcement(payload: dict[str, Any]) -> None:
    """One line of ``enforcement.jsonl`` (a decision or an outcome, with the numbers the rule saw)."""
    logging.getLogger(ENFORCEMENT_LOGGER).info("enforcement", extra={"payload": payload})
