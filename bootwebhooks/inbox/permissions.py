from rest_framework.permissions import BasePermission, DjangoModelPermissions


class CanViewModel(DjangoModelPermissions):
    """Reading needs the model's `view` permission (DRF's default asks for none on GET)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


def has_perm(perm: str) -> type[BasePermission]:
    """A permission class requiring one Django permission, e.g. `inbox.retry_webhookevent`."""

    class HasPerm(BasePermission):
        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.has_perm(perm))

    HasPerm.__name__ = f"HasPerm({perm})"
    return HasPerm
