"""The OpenAPI document: every error response is documented with the one error shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
DESCRIPTIONS = {
    "400": "Malformed request body",
    "401": "Not signed in, or the token is unknown, expired or revoked",
    "403": "Signed in, but not allowed (the refusal is logged), or the password is a one-time one that "
    "must be replaced first (code password_change_required)",
    "404": "Not found, or not yours to know about (the refusal is logged)",
    "409": "Conflicts with the current state",
    "413": "Larger than the configured limit",
    "416": "Range not satisfiable",
    "422": "Invalid input",
    "429": "Too many failed sign-ins; see Retry-After",
    "503": "A dependency (database, object store) is unavailable; retry later",
}


def install_openapi(app: FastAPI) -> None:
    """Replace FastAPI's default 422 body and fill every documented error with ``Error``."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    responses.setdefault("400", {})
                responses.setdefault("503", {})
                if operation.get("security"):
                    responses.setdefault("403", {})  # a one-time password's token is refused everywhere
                for status, response in responses.items():
                    if status[0] in "45":
                        response["description"] = DESCRIPTIONS.get(status, "Error")
                        response["content"] = error
        app.openapi_schema = doc
        return doc

    # FastAPI's documented way to customise the document is to replace this method on the app
    app.openapi = build  # type: ignore[method-assign]
