"""The two staff roles. Consumer apps add their own permissions to these groups."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = "Support"
BILLING = "Billing operators"
INBOX_SUPPORT = ["view_webhookevent", "view_attempt", "retry_webhookevent"]
INBOX_BILLING = [*INBOX_SUPPORT, "resolve_webhookevent"]


def create_groups(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); we need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ((SUPPORT, INBOX_SUPPORT), (BILLING, INBOX_BILLING)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="inbox", codename__in=codenames)
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[SUPPORT, BILLING]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0003_support_fields"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
