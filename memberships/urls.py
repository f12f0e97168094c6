from django.urls import path

from bootwebhooks.memberships import views

app_name = "memberships"

urlpatterns = [
    path("api/memberships/<int:user_id>/", views.MembershipDetailView.as_view(), name="detail"),
]
