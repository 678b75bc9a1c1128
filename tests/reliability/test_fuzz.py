"""Schemathesis over the live server's /openapi.json: no 5xx, and every answer matches the
schema the server declares for it (media type and body); every 4xx is the JSON error body.

Half of the generated cases have their path ids replaced by ids that exist (a compiled model, a
dataset, a finished job, an upload), so that fuzzed bodies and queries reach the handlers rather
than stopping at 404."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from tests.reliability.helpers import create_model, data, fit_body, upload
from tests.server.conftest import Server, wait_job

# Bounded so that the 36 operations finish in well under a minute on CI.
MAX_EXAMPLES = int(__import__("os").environ.get("FUZZ_EXAMPLES", 12))

# npz and HDF5 bodies are bytes: sent as generated (random bytes, mostly not a valid archive).
schemathesis.serializer.alias(["application/x-npz", "application/x-hdf5"],
                              "application/octet-stream")


@pytest.fixture(scope="session")
def api_schema(server: Server, api: httpx.Client) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


@pytest.fixture(scope="session")
def real_ids(api: httpx.Client) -> dict[str, str]:
    model_id = create_model(api)
    x, y = data(32)
    ds = upload(api, x=x, y=y)
    job = api.post("/jobs", json=fit_body(model_id, ds)).json()
    wait_job(api, job["id"])
    up = api.post("/datasets/uploads", json={"name": "fuzz"}).json()
    return {"model_id": model_id, "dataset_id": ds, "job_id": job["id"], "upload_id": up["id"],
            "name_or_index": "hidden"}


@schemathesis.check
def error_body(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A 4xx answer is ``{"error": code, "message": text}``."""
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), body
        assert isinstance(body.get("message"), str) and body["message"], body


schema = schemathesis.pytest.from_fixture("api_schema")
_turn = itertools.count()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, api: httpx.Client,
                                              real_ids: dict[str, str]) -> None:
    if case.path_parameters and case.method != "DELETE" and next(_turn) % 2:
        for name in case.path_parameters:
            case.path_parameters[name] = real_ids.get(name, case.path_parameters[name])
    case.call_and_validate(headers={"Authorization": api.headers["Authorization"]},
                           checks=[not_a_server_error, content_type_conformance,
                                   response_schema_conformance, error_body], timeout=30)


def test_declared_error_responses_are_the_error_body(server: Server) -> None:
    """The document declares the body that 4xx answers really have (not FastAPI's default
    ``HTTPValidationError``, which has no ``message``)."""
    doc = httpx.get(server.url + "/openapi.json").json()
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) >= {"error", "message"}
    checked = 0
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                if status.startswith("4"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, status, ref)
                    checked += 1
    assert checked >= 30
