"""Statements every event pays for, written out instead of composed by the ORM.

Composing a query costs a worker more CPU than PostgreSQL spends running these (see the
profile in docs/BENCHMARKS.md), so the INSERT of a new event and the UPDATE of its outcome
are built here from the model's own fields. Values go through each field's own preparation,
as `save()` does: `pre_save` (auto_now_add) and `get_db_prep_save` (the cleaning of
inbox.fields included).
"""

from django.db import connection, models


def insert(obj: models.Model) -> tuple[str, list[object]]:
    """`INSERT ... RETURNING` the primary key, for a new row of `obj`'s model."""
    meta = obj._meta
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    columns, values = _prepared(obj, fields, add=True)
    return (
        f"INSERT INTO {_quote(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608  (our names)
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {_quote(meta.pk.column)}",
        values,
    )


def update(obj: models.Model, names: tuple[str, ...]) -> tuple[str, list[object]]:
    """`UPDATE` of the fields `names` of `obj`'s row."""
    meta = obj._meta
    columns, values = _prepared(obj, [meta.get_field(name) for name in names], add=False)
    return (
        f"UPDATE {_quote(meta.db_table)} SET "  # noqa: S608  (our own names)
        + ", ".join(f"{column} = %s" for column in columns)
        + f" WHERE {_quote(meta.pk.column)} = %s",
        [*values, obj.pk],
    )


def _prepared(
    obj: models.Model, fields: list[models.Field], *, add: bool
) -> tuple[list[str], list[object]]:
    values = [f.get_db_prep_save(f.pre_save(obj, add), connection) for f in fields]
    return [_quote(f.column) for f in fields], values


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)
