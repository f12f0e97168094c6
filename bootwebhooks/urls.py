from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("bootwebhooks.inbox.urls")),
    path("", include("memberships.urls")),
    path("admin/", admin.site.urls),
]
