"""Exact money: Decimal amounts with an ISO 4217 currency, never floats."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, PlainSerializer, field_validator

from domain.modelbase import DomainModel

# Currencies we settle in and their minor-unit precision.
CURRENCY_EXPONENT: dict[str, int] = {"CNY": 2, "HKD": 2, "USD": 2, "EUR": 2, "JPY": 0}
MAX_AMOUNT = Decimal("10000000")
# The wire form of an amount: digits, an optional fraction; no sign, exponent, spaces or grouping.
STRICT_DECIMAL = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,8})?$")

DecimalStr = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str)]


class MoneyError(ValueError):
    """Raised for arithmetic between incompatible amounts."""


class Money(DomainModel):
    """An amount in one currency; serialised as {"amount": "129.00", "currency": "CNY"}."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: DecimalStr
    currency: str = "CNY"

    @field_validator("amount", mode="before")
    @classmethod
    def _strict_decimal_string(cls, value: Any) -> Any:
        # Floats cannot carry exact cents, and lenient parsing accepts " 129.00", "-0" or "1e2":
        # the contract is a plain decimal string. Decimals built in code pass as they are.
        if isinstance(value, Decimal):
            return value
        if not isinstance(value, str):
            raise ValueError('amount must be a decimal string such as "129.00"')
        if not STRICT_DECIMAL.match(value):
            raise ValueError(f'amount {value!r} is not a plain decimal string such as "129.00"')
        return Decimal(value)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_EXPONENT:
            raise ValueError(f"unsupported currency {value!r}; supported: {', '.join(CURRENCY_EXPONENT)}")
        return value

    def model_post_init(self, __context: Any) -> None:
        amount = self.amount
        if not amount.is_finite():
            raise ValueError("amount must be finite")
        if amount < 0:
            raise ValueError("amount must not be negative")
        if amount > MAX_AMOUNT:
            raise ValueError(f"amount must not exceed {MAX_AMOUNT}")
        exponent = CURRENCY_EXPONENT[self.currency]
        quantised = amount.quantize(Decimal(1).scaleb(-exponent))
        if quantised != amount:
            raise ValueError(f"amount {amount} has more than {exponent} decimal places for {self.currency}")
        # Normalise to the currency's precision so "129" and "129.00" compare and serialise alike.
        object.__setattr__(self, "amount", quantised)
        super().model_post_init(__context)

    @classmethod
    def zero(cls, currency: str = "CNY") -> Money:
        return cls(amount=Decimal(0), currency=currency)

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __mul__(self, quantity: int) -> Money:
        return Money(amount=self.amount * quantity, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._check(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def _above_zero(money: Money) -> Money:
    if money.amount <= 0:
        raise ValueError("amount must be greater than zero")
    return money


# What a customer paid, or what an action gives back: never zero.
PositiveMoney = Annotated[Money, AfterValidator(_above_zero)]
