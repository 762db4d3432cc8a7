"""An OpenAPI (Swagger) document for a scoring route, from an MLflow signature or a sample.

Pure: takes the signature/sample as plain JSON and returns a dict. The schema says
what the server really accepts, so a fuzzer driven by it finds real bugs.
"""

from __future__ import annotations

from typing import Any

_JSON_TYPES = {
    "double": {"type": "number"},
    "float": {"type": "number"},
    "long": {"type": "integer"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "binary": {"type": "string"},
    "datetime": {"type": "string"},
}


def column_schema(column: dict[str, Any]) -> dict[str, Any]:
    """JSON schema of one signature column (``{"type": "double", "name": "age"}``)."""
    if column.get("type") == "tensor":
        return {"type": "array"}
    return dict(_JSON_TYPES.get(str(column.get("type")), {}))


def _sample_schema(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": _sample_schema(value[0]) if value else {}}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: _sample_schema(v) for k, v in value.items()}}
    return {}


def request_schema(signature: dict[str, Any] | None, sample: Any = None) -> dict[str, Any]:
    """The body ``/score`` accepts: MLflow's four input formats plus Azure's ``input_data``."""
    columns = [c for c in (signature or {}).get("inputs") or [] if isinstance(c, dict)]
    if not columns:
        if sample is not None:
            return _sample_schema(sample)
        return {"type": "object"}
    names = [c.get("name") for c in columns]
    row_item = {"type": "array", "items": {"oneOf": [column_schema(c) or {} for c in columns]},
                "minItems": len(columns), "maxItems": len(columns)}
    record = {"type": "object",
              "properties": {c["name"]: column_schema(c) for c in columns if c.get("name")},
              "required": [c["name"] for c in columns if c.get("name") and c.get("required", True)]}
    split = {"type": "object", "required": ["data"], "properties": {
        "columns": {"type": "array", "items": {"type": "string", "enum": names}},
        "index": {"type": "array"},
        "data": {"type": "array", "items": row_item},
    }}
    rows = {"type": "array", "items": {"oneOf": [row_item, record]}, "minItems": 1}
    return {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
        "dataframe_split": split,
        "dataframe_records": {"type": "array", "items": record, "minItems": 1},
        "instances": rows,
        "inputs": rows,
        "input_data": split,
    }}


def response_schema(signature: dict[str, Any] | None) -> dict[str, Any]:
    outputs = [c for c in (signature or {}).get("outputs") or [] if isinstance(c, dict)]
    item = column_schema(outputs[0]) if len(outputs) == 1 else {}
    return {"type": "object", "properties": {"predictions": {"type": "array", "items": item}}}


def scoring_openapi(
    *,
    title: str,
    signature: dict[str, Any] | None = None,
    sample: Any = None,
    version: str = "1",
) -> dict[str, Any]:
    """The OpenAPI 3 document of a deployment: ``POST /score`` behind a bearer key."""
    request_body = {"required": True, "content": {"application/json": {"schema": request_schema(signature, sample)}}}
    if sample is not None:
        request_body["content"]["application/json"]["example"] = sample
    error = {"description": "The request was refused; the body says why.",
             "content": {"application/json": {"schema": {"type": "object", "properties": {
                 "error": {"type": "string"}, "request_id": {"type": "string"}}}}}}
    responses = {"200": {"description": "Predictions.",
                         "content": {"application/json": {"schema": response_schema(signature)}}}}
    for code, text in (("400", "malformed input"), ("401", "missing or wrong key"), ("408", "timed out"),
                       ("413", "body too large"), ("424", "the model raised an error"),
                       ("429", "too many requests in flight"), ("503", "not ready")):
        responses[code] = {**error, "description": text}
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/score": {"post": {"operationId": "score", "requestBody": request_body, "responses": responses}},
            "/health/live": {"get": {"operationId": "live", "security": [],
                                     "responses": {"200": {"description": "The server process is up."}}}},
            "/health/ready": {"get": {"operationId": "ready", "security": [],
                                      "responses": {"200": {"description": "Ready to score."},
                                                    "503": {"description": "Still loading, or failed."}}}},
        },
    }
