"""Money as integer minor units. Decimal at the edges, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = ["MoneyError", "format_money", "from_minor", "minor_exponent", "to_minor"]

# ISO 4217 currencies whose minor unit is not 2 digits; everything else uses 2.
_EXPONENTS = {
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XAF": 0, "XOF": 0,
    "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3, "IQD": 3, "LYD": 3,
}  # fmt: skip


class MoneyError(ValueError):
    pass


def minor_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_minor(amount: Decimal | str, currency: str) -> int:
    """'1234.50' CNY → 123450. Refuses more decimals than the currency has."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise MoneyError(f"{amount!r} is not a decimal amount") from None
    if not value.is_finite():
        raise MoneyError("amount must be a finite number")
    exponent = minor_exponent(currency)
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{currency} amounts have at most {exponent} decimal places")
    return int(scaled)


def from_minor(amount_minor: int, currency: str) -> Decimal:
    exponent = minor_exponent(currency)
    quantum = Decimal(1).scaleb(-exponent)
    return Decimal(amount_minor).scaleb(-exponent).quantize(quantum, rounding=ROUND_HALF_EVEN)


def format_money(amount_minor: int, currency: str) -> str:
    """123450, 'CNY' → 'CNY 1,234.50'."""
    return f"{currency.upper()} {from_minor(amount_minor, currency):,}"
