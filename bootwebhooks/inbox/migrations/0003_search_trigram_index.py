"""Partial, case-insensitive search (`UPPER(col) LIKE UPPER('%term%')`, Django's icontains)
over a million events: a pg_trgm GIN index on the upper-cased columns it searches. PostgreSQL
only; SQLite searches the same way without an index."""

from django.db import migrations

TABLE = "bootwebhooks_inbox_webhookevent"
INDEX = "bw_inbox_search_trgm"
COLUMNS = ("stripe_id", "object_id", "customer_id", "customer_email")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    columns = ", ".join(f'UPPER("{c}"::text) gin_trgm_ops' for c in COLUMNS)
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {INDEX} ON "{TABLE}" USING gin ({columns})')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("bootwebhooks_inbox", "0002_webhookevent_ignored_reason")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
