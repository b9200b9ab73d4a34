"""OpenAPI description of our authentication, so the schema and /docs know about X-Engine-Key."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class EngineKeyScheme(OpenApiAuthenticationExtension):
    target_class = "engine.auth.EngineKeyAuthentication"
    name = "EngineKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Engine-Key"}


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every non-2xx response. `error` is a stable code (see the README), `message` is for people.",
    "properties": {
        "error": {"type": "string", "example": "validation_error"},
        "message": {"type": "string"},
        "details": {"type": "object", "additionalProperties": True},
    },
    "required": ["error", "message"],
}


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: documents the shared error shape on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {**error, "description": "Invalid body (validation_error, malformed_json)"})
            if {"EngineKey": []} in operation.get("security", []):
                responses.setdefault("401", {**error, "description": "Missing or invalid X-Engine-Key"})
                responses.setdefault("429", {**error, "description": "Throttled"})
            responses.setdefault("500", {**error, "description": "Unexpected error (internal_error)"})
    return result
