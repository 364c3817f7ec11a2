"""Fixtures and markers for the example suite.

Markers are registered here rather than in a pytest.ini, so that this folder does not become
its own rootdir: run it from the repository root with ``pytest examples --testreport``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from shop import Cart, Catalogue, FakeGateway, Product


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smoke: quick checks worth running on every commit")
    config.addinivalue_line("markers", "payments: tests that charge the payment gateway")


@pytest.fixture
def catalogue() -> Catalogue:
    catalogue = Catalogue()
    catalogue.add(Product("MUG-01", "Coffee mug", Decimal("9.50")), quantity=10)
    catalogue.add(Product("TEE-XL", "T-shirt, XL", Decimal("19.90")), quantity=3)
    catalogue.add(Product("BAG-02", "Tote bag", Decimal("12.00")), quantity=0)
    return catalogue


@pytest.fixture
def cart(catalogue: Catalogue) -> Cart:
    return Cart(catalogue)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def live_gateway() -> FakeGateway:
    """The real payment sandbox; it is "down", so every test using it ends in a setup error."""
    raise ConnectionError("payment sandbox unreachable: connection refused (intentional)")
