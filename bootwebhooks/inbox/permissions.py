from rest_framework.permissions import DjangoModelPermissions


class CanViewModel(DjangoModelPermissions):
    """Reading needs the model's `view` permission (DRF's default asks for none on GET)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
