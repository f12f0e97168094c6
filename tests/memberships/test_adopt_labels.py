"""adopt_bootwebhooks_labels: an old deployment (labels inbox, payments, memberships) moves
to the bootwebhooks_* labels with its data, grants and history, then migrates on."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.db.migrations.recorder import MigrationRecorder

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.relabel import (
    OLD_INDEX_PREFIX,
    OLD_LABELS,
    adopt_old_labels,
    initial_models,
    old_table,
    why_not,
)
from bootwebhooks.memberships.models import Membership
from tests.stripe_events import deliver

pytestmark = pytest.mark.django_db(transaction=True)

OLD_MIGRATIONS = {
    "inbox": [
        "0001_initial",
        "0002_checkpoint",
        "0003_support_fields",
        "0004_staff_groups",
        "0005_worker_trigger",
    ],
    "payments": ["0001_initial", "0002_name_event_relations"],
    "memberships": [
        "0001_initial",
        "0002_name_event_relations",
        "0003_staff_override",
        "0004_staff_group_permissions",
    ],
}


def make_it_an_old_deployment(migrations: dict[str, list[str]] = OLD_MIGRATIONS) -> None:
    """The database as the old releases left it: the schema of the new 0001s, under the old
    table, index and label names."""
    for label in reversed(OLD_LABELS.values()):  # memberships, payments, inbox
        call_command("migrate", label, "0001_initial", verbosity=0)
    recorder = MigrationRecorder(connection)
    with connection.schema_editor(atomic=True) as editor:
        for old, new in OLD_LABELS.items():
            for model in initial_models(new):
                for index in model._meta.indexes:
                    was = models.Index(
                        fields=index.fields, name=index.name.removeprefix(OLD_INDEX_PREFIX)
                    )
                    editor.rename_index(model, index, was)
                editor.alter_db_table(model, model._meta.db_table, old_table(old, model))
            ContentType.objects.filter(app_label=new).update(app_label=old)
            recorder.migration_qs.filter(app=new).delete()
            for name in migrations[old]:
                recorder.record_applied(old, name)
    ContentType.objects.clear_cache()


def indexes_of(model: type[models.Model]) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, model._meta.db_table))


@pytest.fixture(autouse=True)
def migrated_after():
    """Each test leaves the schema as the other tests expect it: moved and migrated."""
    yield
    if not why_not():
        adopt_old_labels()
    call_command("migrate", verbosity=0)


@pytest.fixture
def old_deployment(client, student):
    deliver(client, "invoice_paid")
    support = Group.objects.create(name="Support")
    support.permissions.add(Permission.objects.get(codename="view_webhookevent"))
    make_it_an_old_deployment()
    yield support


def test_an_old_deployment_keeps_its_events_members_and_grants(old_deployment, student):
    call_command("adopt_bootwebhooks_labels")
    call_command("migrate", verbosity=0)  # the 0002s and anything newer apply as usual

    assert WebhookEvent.objects.get().type == "invoice.paid"
    assert Membership.objects.get(user=student).status == "active"
    [granted] = old_deployment.permissions.all()
    assert granted.content_type.app_label == "bootwebhooks_inbox"
    assert {"bw_inbox_received", "bw_inbox_customer"} <= indexes_of(WebhookEvent)
    assert not ContentType.objects.filter(app_label__in=OLD_LABELS).exists()
    assert not MigrationRecorder.Migration.objects.filter(app__in=OLD_LABELS).exists()
    call_command("migrate", check_unapplied=True, verbosity=0)  # SystemExit(1) if any left


def test_it_refuses_a_second_run_in_one_line(old_deployment):
    call_command("adopt_bootwebhooks_labels")

    with pytest.raises(CommandError, match=r"nothing changed: .*already applied"):
        call_command("adopt_bootwebhooks_labels")


def test_it_changes_nothing_when_the_old_migrations_are_incomplete(client, student):
    deliver(client, "invoice_paid")
    partial = {**OLD_MIGRATIONS, "memberships": OLD_MIGRATIONS["memberships"][:2]}
    make_it_an_old_deployment(partial)

    with pytest.raises(CommandError, match=r"memberships\.0004_staff_group_permissions"):
        call_command("adopt_bootwebhooks_labels")

    assert "inbox_webhookevent" in connection.introspection.table_names()
    MigrationRecorder(connection).record_applied("memberships", "0003_staff_override")
    MigrationRecorder(connection).record_applied("memberships", "0004_staff_group_permissions")
