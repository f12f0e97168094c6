from django import template
from django.utils.module_loading import import_string

from bootwebhooks.conf import app_settings

register = template.Library()


@register.simple_tag(takes_context=True)
def overview_rows(context) -> list[tuple[str, str, str]]:
    """Rows from every panel in ADMIN_OVERVIEW_PANELS (dotted paths to functions taking the
    user, each showing only what that user may see)."""
    user = context["request"].user
    return [row for path in app_settings.ADMIN_OVERVIEW_PANELS for row in import_string(path)(user)]
