from django import template
from django.conf import settings
from django.utils.module_loading import import_string

register = template.Library()


@register.simple_tag
def overview_rows() -> list[tuple[str, str, str]]:
    """Rows from every panel in ADMIN_OVERVIEW_PANELS (dotted paths to functions)."""
    return [row for path in settings.ADMIN_OVERVIEW_PANELS for row in import_string(path)()]
