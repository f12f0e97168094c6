from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

# The demo has no public site for the admin's "View site" link to open.
admin.site.site_url = None

urlpatterns = [
    path("", include("bootwebhooks.inbox.urls")),
    path("", include("bootwebhooks.memberships.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from drf-spectacular-sidecar's static files (Redoc's page loads web fonts).
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
