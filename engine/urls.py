from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from engine.health import health
from engine.views import KeyListView, WhoAmIView

urlpatterns = [
    path("health", health, name="health"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("django-admin/", admin.site.urls),
    path("whoami", WhoAmIView.as_view(), name="whoami"),
    path("admin/keys", KeyListView.as_view(), name="admin-keys"),
    path("", include("adminops.urls")),
    path("", include("memory.urls")),
    path("", include("assets.urls")),
    path("", include("execution.urls")),
    path("", include("hitl.urls")),
    path("", include("skills.urls")),
]

handler400 = "engine.errors.handler400"
handler403 = "engine.errors.handler403"
handler404 = "engine.errors.handler404"
handler500 = "engine.errors.handler500"
