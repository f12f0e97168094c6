from django import template
from django.utils.module_loading import import_string

from bootwebhooks.conf import app_settings

register = template.Library()


@register.simple_tag
def overview_rows() -> list[tuple[str, str, str]]:
    """Rows from every panel in ADMIN_OVERVIEW_PANELS (dotted paths to functions)."""
    return [row for path in app_settings.ADMIN_OVERVIEW_PANELS for row in import_string(path)()]
