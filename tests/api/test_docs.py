"""``/docs``, ``/redoc`` and ``/openapi.json`` work without internet access (issue 14).

The pages and every asset they reference come from Renkei itself; the OpenAPI document
describes the tracking API and the hooks too, and the errors of every operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import running_hub

_REFERENCE = re.compile(r"""(?:src|href|spec-url|data-openapi-url)\s*=\s*["']([^"']+)["']""")
_EXPECTED_TYPES = {
    ".js": ("application/javascript", "text/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}
_TRACKING = ("identify", "track", "page", "screen", "group", "alias", "batch")


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    # One backend is enough: nothing here touches the database.
    url = f"sqlite:///{tmp_path_factory.mktemp('docs')}/renkei.db"
    with running_hub(url, with_worker=False) as (base, _hub):
        yield base


@pytest.fixture(scope="module")
def document(base_url: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_and_their_assets_come_from_renkei(base_url: str, page: str) -> None:
    response = httpx.get(f"{base_url}{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html), html
    references = _REFERENCE.findall(html)
    assert any(ref.endswith(".js") for ref in references), references
    assert "/openapi.json" in references
    with httpx.Client(base_url=base_url) as client:
        for reference in references:
            assert reference.startswith("/"), reference
            asset = client.get(reference)
            assert asset.status_code == 200, reference
            suffix = reference[reference.rfind(".") :]
            media_type = asset.headers["content-type"].partition(";")[0]
            assert media_type in _EXPECTED_TYPES[suffix], (reference, media_type)
            assert asset.content


def test_the_vendored_assets_carry_their_licences(base_url: str) -> None:
    for path in ("swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE"):
        response = httpx.get(f"{base_url}/docs/assets/{path}")
        assert response.status_code == 200, path
        assert "License" in response.text or "SmartBear" in response.text


def test_openapi_describes_the_tracking_api_and_hooks(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for name in _TRACKING:
        operation = paths[f"/v1/{name}"]["post"]
        assert "application/json" in operation["requestBody"]["content"]
        assert {"200", "400", "401", "413", "415", "503"} <= set(operation["responses"])
    hooks = paths["/hooks/{source_id}"]
    assert {"get", "post", "put"} <= set(hooks)
    assert {"200", "401", "404", "413", "503"} <= set(hooks["post"]["responses"])


def _resolve(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        resolved: dict[str, Any] = document["components"]["responses"][name]
        return resolved
    return response


def test_every_management_operation_lists_its_errors_in_the_error_shape(
    document: dict[str, Any],
) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"401", "403", "503"}
            if "{" in path:
                expected |= {"404", "422"}
            if "requestBody" in operation:
                expected |= {"400", "413", "415", "422"}
            if method in ("post", "put", "patch", "delete"):
                expected |= {"409"}
            assert expected <= set(responses), (method, path, sorted(responses))
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    content = _resolve(document, response)["content"]
                    assert content == {"application/json": {"schema": error_ref}}, (path, status)
            assert operation["security"] == [{"bearerToken": []}]


def test_metrics_is_documented_as_text_and_served_as_text(
    base_url: str, document: dict[str, Any]
) -> None:
    content = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]
    served = httpx.get(f"{base_url}/metrics")
    assert served.headers["content-type"].startswith("text/plain")
