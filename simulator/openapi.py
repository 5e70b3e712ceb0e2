"""The OpenAPI 3 description served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from simulator.timeline import CANCEL_REASONS, STATUSES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "page", "limit", "total"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "page": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "total": {"type": "integer", "minimum": 0},
        },
    }


_ERR = {
    "400": _json(_ref("Error"), "invalid request, or BalanceNotEnough"),
    "401": _json(_ref("Error"), "missing or unknown X-API-Key"),
    "429": {
        "description": "rate limit exceeded; retry after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": _ref("Error")}},
    },
}
_PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "description": "values above 100 are clamped to 100",
    },
]
_ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **_ERR}, **extra}


def spec(server_url: str | None = None) -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "itemId": {"type": "string"},
            "quantity": {"type": "integer"},
            "note": {"type": "string", "nullable": True},
            "price": {"type": "number"},
            "externalData": {
                "type": "array",
                "items": {"type": "string"},
                "description": "codes; filled only when the order is completed",
            },
            "error": {"type": "string", "nullable": True},
        },
    }
    order = {
        "type": "object",
        "required": ["id", "status", "items", "totalPrice", "createdAt", "paymentExpiresAt"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "items": {"type": "array", "items": _ref("OrderItem")},
            "totalPrice": {"type": "number"},
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "paymentExpiresAt": {"type": "string", "format": "date-time"},
            "cancelReason": {"type": "string", "nullable": True, "enum": [*CANCEL_REASONS, None]},
        },
    }
    create = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "required": ["itemId"],
                    "properties": {
                        "itemId": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                        "note": {"type": "string"},
                    },
                },
            },
            "totalPrice": {"type": "number", "description": "if given, must match the price"},
        },
    }
    schemas: dict[str, Any] = {
        "Order": order,
        "OrderItem": item,
        "CreateOrder": create,
        "OrderPage": _page("Order"),
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            "additionalProperties": True,
        },
        "Product": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "categoryId": {"type": "string"},
                "price": {"type": "number"},
                "currency": {"type": "string"},
                "inStock": {"type": "boolean"},
            },
        },
        "Category": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
        },
        "Topup": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "method": {"type": "string"},
                "amount": {"type": "number"},
                "currency": {"type": "string"},
                "status": {"type": "string"},
                "createdAt": {"type": "string", "format": "date-time"},
            },
        },
        "TopupPage": _page("Topup"),
        "Balance": {
            "type": "object",
            "properties": {"balance": {"type": "number"}, "currency": {"type": "string"}},
        },
    }
    order_resp = _json(_ref("Order"), "the order")
    paths: dict[str, Any] = {
        "/api/orders/": {
            "get": _op(
                "List orders, newest first by createdAt",
                {"200": _json(_ref("OrderPage"), "one page of orders")},
                parameters=[
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(STATUSES)},
                    },
                    *_PAGING,
                ],
            ),
            "post": _op(
                "Create an order (status active)",
                {
                    "201": _json(_ref("Order"), "created"),
                    "404": _json(_ref("Error"), "ProductNotFound"),
                },
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CreateOrder")}},
                },
            ),
        },
        "/api/orders/{order_id}": {
            "get": _op(
                "Get one order",
                {"200": order_resp, "404": _json(_ref("Error"), "OrderNotFound")},
                parameters=[_ORDER_ID],
            )
        },
        "/api/orders/{order_id}/pay": {
            "post": _op(
                "Pay an order from the account balance",
                {
                    "200": order_resp,
                    "404": _json(_ref("Error"), "OrderNotFound"),
                    "409": _json(_ref("Error"), "OrderAlreadyPaid / OrderNotPayable"),
                },
                parameters=[_ORDER_ID],
            )
        },
        "/api/topups/crypto/": {
            "post": _op(
                "Top up the balance with crypto (credited at once in the sandbox)",
                {"201": _json(_ref("Topup"), "the top-up")},
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["amount"],
                                "properties": {
                                    "amount": {
                                        "type": "number",
                                        "minimum": 0,
                                        "exclusiveMinimum": True,
                                    },
                                    "currency": {"type": "string", "default": "USDT"},
                                },
                            }
                        }
                    },
                },
            )
        },
        "/api/topups/": {
            "get": _op(
                "Top-up history, newest first",
                {"200": _json(_ref("TopupPage"), "one page")},
                parameters=_PAGING,
            )
        },
        "/api/products/": {
            "get": _op(
                "List products",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("Product")}},
                        },
                        "products",
                    )
                },
            )
        },
        "/api/products/search": {
            "get": _op(
                "Search products by name",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("Product")}},
                        },
                        "products",
                    )
                },
                parameters=[{"name": "q", "in": "query", "schema": {"type": "string"}}],
            )
        },
        "/api/categories/": {
            "get": _op(
                "List categories",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("Category")}},
                        },
                        "categories",
                    )
                },
            )
        },
        "/v1/balance": {
            "get": _op(
                "Legacy v1 balance (only when enabled in the simulator config)",
                {
                    "200": _json(_ref("Balance"), "the balance"),
                    "404": _json(_ref("Error"), "not enabled"),
                },
            )
        },
    }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "FoxReload public API (simulator)",
            "version": "1.0.0-sandbox",
            "description": "The FoxReload API surface as implemented by the project's simulator. "
            "The sandbox control API under /_sim/ is documented in docs/simulator.md.",
        },
        "security": [{"ApiKey": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
