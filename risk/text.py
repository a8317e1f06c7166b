"""Numbers in reason texts: money with Decimal (never float), ratios rounded down."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from domain.money import minor_exponent

__all__ = ["money", "times"]


def money(amount: Decimal, currency: str) -> str:
    """Decimal("2400"), "CNY" → "2,400.00 CNY"; JPY has no minor unit → "5,000 JPY"."""
    quantum = Decimal(1).scaleb(-minor_exponent(currency))
    return f"{amount.quantize(quantum, rounding=ROUND_HALF_EVEN):,f} {currency}"


def times(ratio: Decimal) -> str:
    """Decimal("4.8333") → "4.8×". Rounded down so the text never overstates the ratio."""
    return f"{ratio.quantize(Decimal('0.1'), rounding=ROUND_DOWN):,f}×"
