"""The contracts table (spec/gateway.md §6.5): front months computed from a date, ids in the broker's format.

The gateway code can differ from the exchange root (ES → EP), so the table carries both. Contracts of
other months are built on demand so that ``searchById`` can answer them with ``activeContract:false``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

MONTH_CODES = "FGHJKMNQUVXZ"
MONTH_NAMES = "January February March April May June July August September October November December".split()


@dataclass(frozen=True, slots=True)
class Product:
    root: str
    code: str
    name: str
    tick_size: Decimal
    tick_value: Decimal
    months: str  # month letters listed
    reference: Decimal
    fee: Decimal
    roll: str  # "quarterly", "energy", "metal", or "monthly" (first listed month after this one)


def _p(
    root: str, code: str, name: str, tick: str, value: str, months: str, ref: str, fee: str, roll: str
) -> Product:
    return Product(root, code, name, Decimal(tick), Decimal(value), months, Decimal(ref), Decimal(fee), roll)


BUILTIN_PRODUCTS: tuple[Product, ...] = (
    _p("ES", "EP", "E-mini S&P 500", "0.25", "12.50", "HMUZ", "6700.00", "1.40", "quarterly"),
    _p("MES", "MES", "Micro E-mini S&P 500", "0.25", "1.25", "HMUZ", "6700.00", "0.37", "quarterly"),
    _p("NQ", "ENQ", "E-mini Nasdaq-100", "0.25", "5.00", "HMUZ", "24500.00", "1.40", "quarterly"),
    _p("MNQ", "MNQ", "Micro E-mini Nasdaq-100", "0.25", "0.50", "HMUZ", "24500.00", "0.37", "quarterly"),
    _p("RTY", "RTY", "E-mini Russell 2000", "0.10", "5.00", "HMUZ", "2450.0", "1.40", "quarterly"),
    _p("M2K", "M2K", "Micro E-mini Russell 2000", "0.10", "0.50", "HMUZ", "2450.0", "0.37", "quarterly"),
    _p("YM", "YM", "E-mini Dow Jones", "1", "5.00", "HMUZ", "47000", "1.40", "quarterly"),
    _p("MYM", "MYM", "Micro E-mini Dow Jones", "1", "0.50", "HMUZ", "47000", "0.37", "quarterly"),
    _p("CL", "CLE", "Crude Oil", "0.01", "10.00", MONTH_CODES, "60.00", "1.52", "energy"),
    _p("MCL", "MCLE", "Micro WTI Crude Oil", "0.01", "1.00", MONTH_CODES, "60.00", "0.52", "energy"),
    _p("GC", "GCE", "Gold", "0.10", "10.00", "GJMQVZ", "4050.0", "1.62", "metal"),
    _p("MGC", "MGC", "Micro Gold", "0.10", "1.00", "GJMQVZ", "4050.0", "0.62", "metal"),
)


@dataclass(slots=True)
class Contract:
    product: Product
    year: int
    month: int
    active: bool
    id: str = field(init=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        letter = MONTH_CODES[self.month - 1]
        self.id = f"CON.F.US.{self.product.code}.{letter}{self.year % 100:02d}"
        self.name = f"{self.product.root}{letter}{self.year % 10}"

    @property
    def symbol_id(self) -> str:
        return f"F.US.{self.product.code}"

    @property
    def tick_size(self) -> Decimal:
        return self.product.tick_size

    @property
    def tick_value(self) -> Decimal:
        return self.product.tick_value

    @property
    def description(self) -> str:
        return f"{self.product.name}: {MONTH_NAMES[self.month - 1]} {self.year}"

    def on_grid(self, price: Decimal) -> bool:
        return price % self.product.tick_size == 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "tickSize": self.tick_size,
            "tickValue": self.tick_value,
            "activeContract": self.active,
            "symbolId": self.symbol_id,
        }


def _second_thursday(year: int, month: int) -> date:
    first = date(year, month, 1)
    offset = (3 - first.weekday()) % 7  # Thursday = 3
    return first + timedelta(days=offset + 7)


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


def front_month(product: Product, today: date) -> tuple[int, int]:
    """(year, month) of the front contract on ``today`` (rules of spec/gateway.md §6.5)."""
    listed = {MONTH_CODES.index(c) + 1 for c in product.months}
    if product.roll == "quarterly":
        year, month = today.year, today.month
        for _ in range(24):
            if month in listed and _second_thursday(year, month) > today:
                return year, month
            year, month = _add_months(year, month, 1)
    elif product.roll == "energy":
        return _add_months(today.year, today.month, 1 if today.day < 15 else 2)
    else:  # metal and any custom root: first listed month after the current month
        year, month = _add_months(today.year, today.month, 1)
        for step in range(24):
            if month in listed:
                if step == 0 and today.day >= 25:
                    year, month = _add_months(year, month, 1)
                    continue
                return year, month
            year, month = _add_months(year, month, 1)
    raise ValueError(f"no listed month for {product.root}")


_ID = re.compile(r"^CON\.F\.US\.([A-Z0-9]+)\.([FGHJKMNQUVXZ])(\d{2})$")


class ContractTable:
    """Front contracts by root and code, plus lookups by id or symbol."""

    def __init__(self, products: list[Product], today: date) -> None:
        self.products = {p.root: p for p in products}
        self._by_code = {p.code: p for p in products}
        self.front: dict[str, Contract] = {}
        for product in products:
            year, month = front_month(product, today)
            contract = Contract(product, year, month, True)
            self.front[contract.id] = contract

    def fronts(self) -> list[Contract]:
        return list(self.front.values())

    def by_id(self, contract_id: str) -> Contract | None:
        """Front contract, or another listed month of a known product (inactive); None if unknown."""
        if contract_id in self.front:
            return self.front[contract_id]
        match = _ID.match(contract_id or "")
        if not match:
            return None
        product = self._by_code.get(match.group(1))
        if product is None or match.group(2) not in product.months:
            return None
        month = MONTH_CODES.index(match.group(2)) + 1
        return Contract(product, 2000 + int(match.group(3)), month, False)

    def resolve(self, ref: str) -> Contract | None:
        """Control-API form: a full contract id, or a symbol (root, code or name) meaning its front month."""
        if not isinstance(ref, str):
            return None
        found = self.by_id(ref)
        if found is not None:
            return found
        key = ref.strip().upper()
        for contract in self.front.values():
            p = contract.product
            if key in (p.root, p.code, contract.name, contract.symbol_id, f"/{p.root}"):
                return contract
        return None

    def search(self, text: str) -> list[Contract]:
        needle = (text or "").strip().lower()
        out = []
        for contract in self.front.values():
            p = contract.product
            hay = (contract.name, contract.description, p.code, p.root)
            if any(needle in h.lower() for h in hay):
                out.append(contract)
        return out[:20]
