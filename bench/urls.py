from django.conf import settings
from django.urls import include, path

from bench import views
from bootwebhooks.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/floor/", views.floor, name="bench-floor"),
    path("bench/drf-floor/", views.DrfFloor.as_view(), name="bench-drf-floor"),
    path("bench/naive/", views.naive_receiver, name="bench-naive"),
    path("bench/one-round-trip/", views.one_round_trip, name="bench-one-round-trip"),
    *product_urlpatterns,
]
if "djstripe" in settings.INSTALLED_APPS:  # the dj-stripe baseline (bench/djstripe_baseline.py)
    urlpatterns.append(path("bench/djstripe/", include("djstripe.urls", namespace="djstripe")))
