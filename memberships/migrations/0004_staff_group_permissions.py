"""Give the staff roles (made by inbox 0004) what they need for payments and memberships."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    ("payments", "view_payment"),
    ("payments", "view_subscription"),
    ("payments", "view_charge"),
    ("payments", "view_stripecustomer"),
    ("memberships", "view_membership"),
    ("memberships", "view_membershipchange"),
    ("memberships", "view_staffoverride"),
]
CHANGE = [("memberships", "change_membership")]  # grant, extend, revoke, link customers
ROLES = {"Support": VIEW, "Billing operators": VIEW + CHANGE}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in perms:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("memberships", "0003_staff_override"),
        ("payments", "0002_name_event_relations"),
        ("inbox", "0004_staff_groups"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
