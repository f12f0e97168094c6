from django.urls import path

from bootwebhooks.memberships import views

app_name = "bootwebhooks_memberships"

urlpatterns = [
    path("api/memberships/<str:user_id>/", views.MembershipDetailView.as_view(), name="detail"),
]
