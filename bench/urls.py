from django.urls import path

from bench import views
from bootwebhooks.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/floor/", views.floor, name="bench-floor"),
    path("bench/naive/", views.naive_receiver, name="bench-naive"),
    *product_urlpatterns,
]
