"""Checkout scenarios written with steps and metadata.

The setup error in this file is intentional: ``test_charge_on_live_sandbox`` asks for the
``live_gateway`` fixture, which raises, so the report has an error to show.
"""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from shop import Cart, FakeGateway, OutOfStock, PaymentDeclined, checkout

from pytest_testreport import metadata, step

VISA = "4242424242424242"
DECLINED = "4000000000000000"


@step("a cart with two mugs", keyword="Given")
def fill_cart(cart: Cart) -> None:
    cart.add("MUG-01", 2)


@pytest.mark.payments
@pytest.mark.testreport_metadata(ticket="SHOP-1", owner="checkout-team")
def test_checkout_charges_the_card(cart: Cart, gateway: FakeGateway) -> None:
    fill_cart(cart)
    with step("the customer pays by card", keyword="When"):
        with step("the card is charged"):
            charge_id = checkout(cart, gateway, VISA)
        with step("the charge id is shown"):
            metadata("charge_id", charge_id)
    with step("the gateway has one charge for the total", keyword="Then"):
        assert gateway.charges == [(VISA, Decimal("23.90"))]
        assert not cart.lines


@pytest.mark.payments
def test_declined_card_keeps_the_cart(cart: Cart, gateway: FakeGateway, testreport) -> None:
    testreport.metadata("card", "declined test card")
    fill_cart(cart)
    with testreport.step("the customer pays with a declined card", keyword="When"):
        with pytest.raises(PaymentDeclined) as declined:
            checkout(cart, gateway, DECLINED)
        testreport.metadata("decline", str(declined.value))
    with testreport.step("nothing is charged and the cart is kept", keyword="Then"):
        assert gateway.charges == []
        assert cart.lines == {"MUG-01": 2}


def test_out_of_stock_item_cannot_be_bought(cart: Cart, gateway: FakeGateway) -> None:
    metadata("sku", "BAG-02")
    cart.catalogue.stock["BAG-02"] = 0
    cart.add("BAG-02")
    with step("the customer checks out an item that sold out", keyword="When"):
        with pytest.raises(OutOfStock, match="0 left"):
            checkout(cart, gateway, VISA)
        assert gateway.charges == []


@pytest.mark.payments
def test_charge_on_live_sandbox(cart: Cart, live_gateway: FakeGateway) -> None:
    """Errors in setup on purpose: the live_gateway fixture raises before this body runs."""
    fill_cart(cart)
    checkout(cart, live_gateway, VISA)


def test_receipt_email() -> None:
    if not os.environ.get("SHOP_SMTP_HOST"):
        pytest.skip("set SHOP_SMTP_HOST to send a real receipt")
    raise AssertionError("not reached without SMTP")
