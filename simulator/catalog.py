"""The sandbox's tiny built-in catalog: categories and products with fixed prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class Category:
    id: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category_id: str
    price: float
    currency: str = "USD"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "categoryId": self.category_id,
            "price": self.price,
            "currency": self.currency,
            "inStock": True,
        }


CATEGORIES: Final = (
    Category("gift-cards", "Gift cards"),
    Category("game-credits", "Game credits"),
    Category("mobile-topup", "Mobile top-up"),
)

PRODUCTS: Final = (
    Product("steam-10", "Steam Wallet 10 USD", "gift-cards", 10.50),
    Product("steam-50", "Steam Wallet 50 USD", "gift-cards", 51.75),
    Product("psn-20", "PlayStation Store 20 USD", "gift-cards", 20.90),
    Product("xbox-25", "Xbox Gift Card 25 USD", "gift-cards", 25.80),
    Product("robux-800", "Roblox 800 Robux", "game-credits", 9.99),
    Product("vbucks-1000", "Fortnite 1,000 V-Bucks", "game-credits", 8.49),
    Product("pubg-660", "PUBG Mobile 660 UC", "game-credits", 9.20),
    Product("mobile-5", "Prepaid mobile top-up 5 USD", "mobile-topup", 5.25),
)

PRODUCTS_BY_ID: Final = {p.id: p for p in PRODUCTS}
DEFAULT_ITEM_ID: Final = "steam-10"
