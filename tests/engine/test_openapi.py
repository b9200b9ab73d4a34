import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_openapi_3_and_needs_no_key(api, admin_key):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert {"/health", "/feedback", "/admin/keys"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["EngineKey"] == {"type": "apiKey", "in": "header", "name": "X-Engine-Key"}
    assert admin_key not in response.content.decode()


def test_the_schema_documents_the_error_shape(api):
    schema = api.get("/openapi.json").json()
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    feedback_post = schema["paths"]["/feedback"]["post"]
    assert {"201", "400", "401"} <= set(feedback_post["responses"])


def test_the_docs_page_works_offline(api):
    page = api.get("/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "https://" not in html and "//cdn" not in html.lower()  # every asset is served by us
    asset = next(part.split('"')[0] for part in html.split('src="')[1:] if "swagger-ui-bundle" in part)
    assert api.get(asset).status_code == 200
