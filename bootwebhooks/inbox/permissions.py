from django.apps import apps
from django.contrib.auth import get_permission_codename
from django.db import models
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import BasePermission, DjangoModelPermissions


class TokenIfInstalled(TokenAuthentication):
    """DRF's token authentication where `rest_framework.authtoken` is installed; elsewhere a
    token header authenticates nobody (instead of a 500 for a model that is not installed)."""

    def authenticate(self, request):
        if not apps.is_installed("rest_framework.authtoken"):
            return None
        return super().authenticate(request)


# The operators' API sets its own authentication, whatever the site's DRF defaults: a token
# or a staff session. Token first, so an anonymous caller gets 401 (with WWW-Authenticate),
# not the 403 that SessionAuthentication alone would give.
API_AUTHENTICATION = [TokenIfInstalled, SessionAuthentication]


class CanViewModel(DjangoModelPermissions):
    """Reading needs the model's `view` permission (DRF's default asks for none on GET)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class CanReadEvents(BasePermission):
    """An authenticated user with the events' `view` permission (the OpenAPI schema's rule)."""

    def has_permission(self, request, view) -> bool:
        from bootwebhooks.inbox.models import WebhookEvent

        user = request.user
        return bool(
            user and user.is_authenticated and user.has_perm(permission(WebhookEvent, "view"))
        )


def has_perm(perm: str) -> type[BasePermission]:
    """A permission class requiring one Django permission (a `permission()` string)."""

    class HasPerm(BasePermission):
        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.has_perm(perm))

    HasPerm.__name__ = f"HasPerm({perm})"
    return HasPerm


def permission(model: type[models.Model], action: str) -> str:
    """`app_label.action_modelname`, read from the model, so no label is written twice."""
    return f"{model._meta.app_label}.{get_permission_codename(action, model._meta)}"
