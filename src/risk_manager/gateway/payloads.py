"""Normalise hub event arguments into (target, item) pairs (spec/gateway.md §4.4).

User hub: one argument, wrapped ``{"action":..,"data":{..}}`` or bare, or a list of either.
Market hub: ``[contractId, object-or-array]``; each item gets ``contractId`` set from the first
argument (a quote's ``symbol`` is a symbolId, not the contract id), which is how the engine keys quotes.
Anything that does not fit yields nothing and a reason, so the connection logs it and carries on.
"""

from __future__ import annotations

from typing import Any

USER_EVENTS = frozenset({"GatewayUserAccount", "GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade"})
MARKET_EVENTS = frozenset({"GatewayQuote", "GatewayTrade", "GatewayDepth"})


def unwrap(payload: Any) -> Any:
    """``{"action":..,"data":{..}}`` → the data object; a bare object (it has ``id``) is returned as is."""
    if isinstance(payload, dict) and "id" not in payload:
        data = payload.get("data")
        if isinstance(data, dict):
            return data
    return payload


def user_items(arguments: list[Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The objects carried by a user-hub event, unwrapped; plus a reason if something was skipped."""
    if not arguments:
        return [], "no arguments"
    payload = arguments[0]
    raw = payload if isinstance(payload, list) else [payload]
    items: list[dict[str, Any]] = []
    skipped = None
    for element in raw:
        obj = unwrap(element)
        if isinstance(obj, dict):
            items.append(obj)
        else:
            skipped = f"payload element is {type(obj).__name__}, not an object"
    return items, skipped


def market_items(arguments: list[Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The objects of a market event, each with ``contractId`` from the first argument."""
    if len(arguments) < 2 or not isinstance(arguments[0], str):
        return [], "expected [contractId, payload]"
    contract_id = arguments[0]
    payload = arguments[1]
    raw = payload if isinstance(payload, list) else [payload]
    items: list[dict[str, Any]] = []
    skipped = None
    for element in raw:
        if isinstance(element, dict):
            element["contractId"] = contract_id
            items.append(element)
        else:
            skipped = f"payload element is {type(element).__name__}, not an object"
    return items, skipped
