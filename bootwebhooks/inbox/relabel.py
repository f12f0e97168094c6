"""Moving a deployment from the old app labels (`inbox`, `payments`, `memberships`) to the
`bootwebhooks_*` ones: tables, the named indexes, content types (and with them permissions,
group grants and admin history) and migration records, in one transaction.

The old releases' last migrations left the same schema as the new labels' 0001_initial, under
the old table names and with index names lacking the `bw_` prefix; so after the move the new
0001 is recorded as applied and `migrate` carries on from there. (The indexes Django named
itself, for foreign keys, keep names derived from the old table names: Django finds those by
introspection, never by name. Checked against a database migrated by the old release.)
"""

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

OLD_LABELS = {
    "inbox": "bootwebhooks_inbox",
    "payments": "bootwebhooks_payments",
    "memberships": "bootwebhooks_memberships",
}
LAST_OLD_MIGRATIONS = {
    "inbox": "0005_worker_trigger",
    "payments": "0002_name_event_relations",
    "memberships": "0004_staff_group_permissions",
}
OLD_INDEX_PREFIX = "bw_"  # the old index names are the new ones without it


class Refused(Exception):
    """The database is not an old deployment's (or is half moved): nothing was changed."""


def adopt_old_labels() -> list[str]:
    """Move everything to the new labels; returns one line per step done."""
    refusal = why_not()
    if refusal:
        raise Refused(refusal)
    recorder = MigrationRecorder(connection)
    done: list[str] = []
    with connection.schema_editor(atomic=True) as editor:
        for old, new in OLD_LABELS.items():
            for model in initial_models(new):
                editor.alter_db_table(model, old_table(old, model), model._meta.db_table)
                done.append(f"table {old_table(old, model)} -> {model._meta.db_table}")
                for index in model._meta.indexes:
                    old_name = index.name.removeprefix(OLD_INDEX_PREFIX)
                    if old_name != index.name:
                        was = models.Index(fields=index.fields, name=old_name)
                        editor.rename_index(model, was, index)
                        done.append(f"index {old_name} -> {index.name}")
            moved = _move_content_types(old, new)
            done.append(f"content types {old} -> {new} ({moved})")
            recorder.migration_qs.filter(app=old).delete()
            recorder.record_applied(new, "0001_initial")
            done.append(f"migrations of {old} recorded as {new}.0001_initial")
    return done


def why_not() -> str:
    """Why this database cannot be moved, or "" if it can."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return "the database has no migrations table: run migrate (a new site needs no move)"
    applied = set(recorder.applied_migrations())
    if any(app in OLD_LABELS.values() for app, _ in applied):
        return "migrations of the new labels are already applied: nothing to move"
    missing = [f"{app}.{name}" for app, name in LAST_OLD_MIGRATIONS.items()
               if (app, name) not in applied]  # fmt: skip
    if missing:
        return (
            f"the old apps' last migrations are not all applied ({', '.join(missing)}): run "
            "migrate with the previous release first"
        )
    tables = set(connection.introspection.table_names())
    for old, new in OLD_LABELS.items():
        for model in initial_models(new):
            if old_table(old, model) not in tables:
                return f"table {old_table(old, model)} is missing"
            if model._meta.db_table in tables:
                return f"table {model._meta.db_table} already exists"
    return ""


def initial_models(label: str) -> list[type[models.Model]]:
    """The app's models as its 0001_initial left them: what an old deployment has (models
    and fields added since come with the later migrations, which `migrate` then applies)."""
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    state = loader.project_state((label, "0001_initial"), at_end=True)
    return list(state.apps.get_app_config(label).get_models())


def old_table(old_label: str, model: type[models.Model]) -> str:
    return f"{old_label}_{model._meta.model_name}"


def _move_content_types(old: str, new: str) -> int:
    # A migrate run for another app may already have made empty content types (and default
    # permissions) for the new labels: the old ones, which grants point to, take their place.
    olds = ContentType.objects.filter(app_label=old)
    ContentType.objects.filter(app_label=new, model__in=olds.values("model")).delete()
    moved = olds.update(app_label=new)
    ContentType.objects.clear_cache()
    return moved
