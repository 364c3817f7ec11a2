"""A tiny shop: a catalogue, a cart with coupons, and a checkout that charges a payment gateway.

This is the code under test for the example suite in this folder. It has one deliberate bug
(see ``Cart.apply_coupon``) so that the suite shows what a failing test looks like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
FREE_SHIPPING_FROM = Decimal("50.00")
SHIPPING = Decimal("4.90")


class OutOfStock(Exception):
    """The catalogue has fewer items than the cart asks for."""


class PaymentDeclined(Exception):
    """The payment gateway refused the charge."""


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Decimal


@dataclass
class Catalogue:
    products: dict[str, Product] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)

    def add(self, product: Product, quantity: int) -> None:
        self.products[product.sku] = product
        self.stock[product.sku] = self.stock.get(product.sku, 0) + quantity

    def reserve(self, sku: str, quantity: int) -> None:
        if self.stock.get(sku, 0) < quantity:
            raise OutOfStock(f"{sku}: {self.stock.get(sku, 0)} left, {quantity} wanted")
        self.stock[sku] -= quantity


@dataclass
class Cart:
    catalogue: Catalogue
    lines: dict[str, int] = field(default_factory=dict)
    coupons: list[int] = field(default_factory=list)  # percent off, one entry per coupon

    def add(self, sku: str, quantity: int = 1) -> None:
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        if sku not in self.catalogue.products:
            raise KeyError(sku)
        self.lines[sku] = self.lines.get(sku, 0) + quantity

    def remove(self, sku: str) -> None:
        self.lines.pop(sku, None)

    def apply_coupon(self, percent: int) -> None:
        # Deliberate bug: coupons should not stack, but nothing stops a second one.
        self.coupons.append(percent)

    @property
    def subtotal(self) -> Decimal:
        return sum(
            (self.catalogue.products[sku].price * qty for sku, qty in self.lines.items()),
            Decimal("0"),
        )

    @property
    def discount(self) -> Decimal:
        total = self.subtotal
        for percent in self.coupons:
            total -= total * Decimal(percent) / 100
        return (self.subtotal - total).quantize(CENT, ROUND_HALF_UP)

    @property
    def shipping(self) -> Decimal:
        if not self.lines or self.subtotal - self.discount >= FREE_SHIPPING_FROM:
            return Decimal("0.00")
        return SHIPPING

    @property
    def total(self) -> Decimal:
        return (self.subtotal - self.discount + self.shipping).quantize(CENT, ROUND_HALF_UP)


class FakeGateway:
    """Records charges; declines card numbers ending in 0000."""

    def __init__(self) -> None:
        self.charges: list[tuple[str, Decimal]] = []

    def charge(self, card: str, amount: Decimal) -> str:
        if card.endswith("0000"):
            raise PaymentDeclined(f"card ending {card[-4:]} declined")
        self.charges.append((card, amount))
        return f"ch_{len(self.charges):04d}"


def checkout(cart: Cart, gateway: FakeGateway, card: str) -> str:
    """Reserve stock, charge the card, empty the cart; returns the charge id."""
    if not cart.lines:
        raise ValueError("the cart is empty")
    for sku, quantity in cart.lines.items():
        cart.catalogue.reserve(sku, quantity)
    charge_id = gateway.charge(card, cart.total)
    cart.lines.clear()
    cart.coupons.clear()
    return charge_id
