"""Notification URLs shown masked and their secret pieces known to the log redaction."""

from __future__ import annotations

import pytest

from risk_manager.config.notify_urls import mask_url, redact, url_secrets

CASES = [
    # (url, masked, pieces that must never be shown)
    ("json://127.0.0.1:8080/hook?token=Tok3nABC", "json://127.0.0.1:8080/***", ["Tok3nABC"]),
    ("discord://112233445566/AbCdEf-GhIjKlMn0p", "discord://***/***", ["112233445566", "AbCdEf-GhIjKlMn0p"]),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123", "tgram://***/***",
     ["123456789", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"]),
    ("mailto://me:app-Passw0rd@gmail.com", "mailto://***@gmail.com", ["app-Passw0rd"]),
    ("ntfy://my-private-topic-42", "ntfy://***", ["my-private-topic-42"]),
    ("pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi", "pover://***@***",
     ["uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"]),
    ("https://hooks.slack.com/services/T0123/B0456/XyZsecretTOKEN", "https://hooks.slack.com/***",
     ["XyZsecretTOKEN"]),
    ("https://[::1]:9000/x?key=Secr3tValue", "https://[::1]:9000/***", ["Secr3tValue"]),
    ("not a url at all", "***", ["not a url at all"]),
]  # fmt: skip


@pytest.mark.parametrize(("url", "masked", "secrets"), CASES)
def test_masked_and_redacted(url: str, masked: str, secrets: list[str]) -> None:
    assert mask_url(url) == masked
    for secret in secrets:
        assert secret not in masked
        assert secret in url_secrets(url) or url in url_secrets(url)
        assert secret not in redact(f"Apprise said: failed to reach {url} ({secret})", url)


def test_ordinary_words_are_not_taken_for_secrets() -> None:
    # Redaction replaces these pieces in every log line: a word like "services" must not be one.
    pieces = url_secrets("https://hooks.slack.com/services/T0123/B0456/XyZsecretTOKEN")
    assert "services" not in pieces and "hooks.slack.com" not in pieces
    assert "me" not in url_secrets("mailto://me:app-Passw0rd@gmail.com")
