"""The OpenAPI spec matches what the server does: schemathesis generates requests from the spec (with and
without the lab token) and checks every answer's status code, content type and body against it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tests.service.conftest import Service

pytestmark = pytest.mark.integration


OPERATIONS = [
    "GET /api/v1/health",
    "POST /api/v1/uploads",
    "GET /api/v1/uploads",
    "GET /api/v1/uploads/{upload_id}",
]
# Whether an upload is acceptable depends on its bytes (empty, a name with a folder path), which no schema
# can say; those refusals are documented answers (400, 415), still checked against the spec.
CONTENT_DEPENDENT = {"POST /api/v1/uploads": [positive_data_acceptance]}


@pytest.mark.parametrize("label", OPERATIONS)
def test_api_conforms_to_its_spec(service: Service, label: str) -> None:
    """Positive and negative cases for one operation; every answer validated against the spec.

    (Driven through Hypothesis directly: schemathesis' pytest plugin does not load on pytest 9.)"""
    spec = schemathesis.openapi.from_url(service.url + "/openapi.json")
    operation = spec.find_operation_by_label(label)
    assert operation is not None, label
    auth = {"Authorization": f"Bearer {service.tokens['lab-fuzz']}"}
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    calls: list[int] = []

    @given(case=strategy)
    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case: Any) -> None:
        response = case.call_and_validate(
            base_url=service.url, headers=auth, excluded_checks=CONTENT_DEPENDENT.get(label, [])
        )
        calls.append(response.status_code)

    check()
    assert calls, f"no request was made for {label}"


def test_spec_documents_the_upload_contract(service: Service) -> None:
    import httpx

    spec = httpx.get(service.url + "/openapi.json").json()
    post = spec["paths"]["/api/v1/uploads"]["post"]
    assert {"200", "201", "400", "401", "413", "415"} <= set(post["responses"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert {"well", "sample", "analyte", "value", "rule", "message"} <= set(problem)
    assert "/signin" not in spec["paths"]  # the HTML pages are not part of the API
