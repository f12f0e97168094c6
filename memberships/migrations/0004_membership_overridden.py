from django.db import migrations, models


def mark_overridden(apps, schema_editor):
    """Memberships staff overrode before the flag existed."""
    Membership = apps.get_model("bootwebhooks_memberships", "Membership")
    Membership.objects.filter(overrides__isnull=False).update(overridden=True)


class Migration(migrations.Migration):
    dependencies = [
        ("bootwebhooks_memberships", "0003_user_relations_prefixed"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="overridden",
            field=models.BooleanField(
                default=False,
                help_text="Staff have overridden it at least once (see its overrides).",
            ),
        ),
        migrations.RunPython(mark_overridden, migrations.RunPython.noop, elidable=True),
    ]
