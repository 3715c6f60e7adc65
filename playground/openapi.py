"""The OpenAPI schema documents the error answers every API view can give, not only its 2xx.

drf-spectacular describes what a view declares; the 400/401/403/404/429 that DRF itself sends
(validation, authentication, permissions, a job that is not yours, throttling) would otherwise be
missing, and clients generated from /api/schema/ (and schemathesis) would treat them as undocumented.
"""
from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.permissions import AllowAny

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# 400: field name → messages (nested for nested fields), or {"detail": ...} for a malformed body.
VALIDATION_ERROR = {"type": "object", "additionalProperties": {}}
_DESCRIPTIONS = {
    "400": "Invalid input; each key names a field and holds its errors.",
    "401": "No or invalid credentials (send `Authorization: Token <key>` or log in).",
    "403": "Authenticated but not allowed (e.g. a session request without its CSRF token).",
    "404": "No such object, or one that belongs to someone else (never 403, so ids reveal nothing).",
    "429": "Too many requests; `detail` says when to try again.",
}


def _json(schema: dict, code: str) -> dict:
    return {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": schema}}}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code, schema in self._error_responses(operation).items():
            responses.setdefault(code, _json(schema, code))
        return operation

    def _error_responses(self, operation: dict) -> dict[str, dict]:
        parameters = operation.get("parameters", [])
        errors: dict[str, dict] = {}
        if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
            errors["400"] = VALIDATION_ERROR
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            errors["401"] = ERROR
            errors["403"] = ERROR
        # Path parameters name an object that may not exist; a page number past the end is a 404 too.
        if any(p["in"] in ("path", "query") for p in parameters):
            errors["404"] = ERROR
        if self.view.get_throttles():
            errors["429"] = ERROR
        return errors
