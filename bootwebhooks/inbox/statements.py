"""Statements every event pays for, written out instead of composed by the ORM.

Composing a query costs a worker more CPU than PostgreSQL spends running these (see the
profile in docs/BENCHMARKS.md), so the INSERT of a new event, the UPDATE of its outcome or of
a fact (`save`), and the rows read back as model instances (`returning`, `selecting`) are
built here from the model's own fields. Values go through each field's own preparation,
as `save()` does: `pre_save` (auto_now_add) and `get_db_prep_save` (the cleaning of
inbox.fields included).

Several statements ride in one query, one round trip, where the database driver allows it
(`send`, `read_each`; `read_all` for rows made into model instances); elsewhere they run one
by one with the same effect.

On PostgreSQL over a kept connection, PostgreSQL plans each of these statements once per
session instead of once per run (`PREPARE`, then `EXECUTE`, written in the query text:
`_Session`). Planning had been a quarter of PostgreSQL's CPU per new event, more than running
the statements (docs/BENCHMARKS.md). PostgreSQL then infers each parameter's type from where
it stands, so every `%s` sent through `send`/`read_each` must stand where a column gives it
one (compared with, assigned to, inserted into a column), as all of the apps' do: a bare
`SELECT %s` would come back as text, and `%s IS NULL` cannot be prepared at all.
"""

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.models.signals import post_save, pre_save

from bootwebhooks.conf import app_settings

Statement = tuple[str, Sequence[Any]]


def insert(obj: models.Model, *, locking: str = "") -> Statement:
    """`INSERT ... RETURNING` the primary key, for a new row of `obj`'s model.

    With `locking` (a unique field's name), `INSERT ... ON CONFLICT (it) DO UPDATE SET it =
    EXCLUDED.it` and no RETURNING: it inserts a missing row or locks the existing one
    (payments.models.locked_row), which `returning` then reads back.
    """
    fields, sql, plain = _written(type(obj), "insert", locking)
    return sql, _values(obj, fields, plain, add=True)


def update(obj: models.Model, names: Sequence[str] | None = None) -> Statement:
    """`UPDATE` of the fields `names` of `obj`'s row; of every field but the key, as `save()`
    writes them, without `names`."""
    fields, sql, plain = _written(type(obj), "update", None if names is None else tuple(names))
    return sql, [*_values(obj, fields, plain, add=False), obj.pk]


def save(obj: models.Model, fields: Sequence[str] | None = None) -> None:
    """`obj.save(update_fields=fields)` of a row that exists, as one written-out UPDATE:
    every event saves a few facts, and composing the ORM's UPDATE cost more than running it.
    Through `save()` itself for a new row, or when a host listens (`heard`)."""
    if fields is not None and not fields:
        return  # as save(update_fields=[]): nothing to write
    if obj._state.adding or heard(type(obj)):
        obj.save(update_fields=fields)
        return
    with connection.cursor() as cursor:
        send(cursor, [update(obj, fields)])


def heard(*models_: type[models.Model]) -> bool:
    """Whether a receiver listens to these models' save signals: then the apps write them
    through `save()`, so a host's receivers still run."""
    return any(signal.has_listeners(m) for signal in (pre_save, post_save) for m in models_)


def _values(
    obj: models.Model, fields: list[models.Field], plain: Sequence[type | None], *, add: bool
) -> list[object]:
    """Each field's value as `save()` would write it: `pre_save` (auto_now_add), then
    `get_db_prep_save` (the cleaning of inbox.fields included). A value of its field's
    `plain` type is written as it is, which is what those two would hand back (about half of
    an event's values: they had cost a new event a tenth of its CPU)."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    values = []
    for field, kind in zip(fields, plain, strict=True):
        if kind is not None:
            value = getattr(obj, field.attname)
            if type(value) is kind and (kind is not datetime or value.tzinfo is not None):
                values.append(value)
                continue
        values.append(field.get_db_prep_save(field.pre_save(obj, add), wrapper))
    return values


def _plain(field: models.Field, wrapper: Any) -> type | None:
    """The one type of value that `field` writes unchanged on PostgreSQL: its `pre_save`
    returns the attribute, and its `get_db_prep_save` returns a value of that type as it is
    (Django's own CharField, TextField, BooleanField, and DateTimeField without auto_now, for
    an aware datetime). None for every other field, subclasses included (inbox.fields' clean
    their values), and off PostgreSQL (SQLite writes datetimes as text)."""
    if wrapper.vendor != "postgresql":
        return None
    kind = type(field)
    if kind in (models.CharField, models.TextField):
        return str
    if kind is models.BooleanField:
        return bool
    if kind is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        return datetime
    return None


def _written(
    model: type[models.Model], kind: str, spec: Any
) -> tuple[list[models.Field], str, tuple[type | None, ...]]:
    """The fields, SQL text and fields' plain types (`_plain`) of an `insert` or `update` of
    `model`: the same for every row of it, so made once per connection (a thread's own), as
    every event writes several."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    known = wrapper.__dict__.setdefault("bootwebhooks_written", {})
    key = (model, kind, spec)
    if key not in known:
        fields, sql = (_insert_sql if kind == "insert" else _update_sql)(model, spec)
        known[key] = fields, sql, tuple(_plain(field, wrapper) for field in fields)
    return known[key]


def _insert_sql(model: type[models.Model], locking: str) -> tuple[list[models.Field], str]:
    meta = model._meta
    fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
    columns = ", ".join(_quote(f.column) for f in fields)
    sql = (
        f"INSERT INTO {_quote(meta.db_table)} ({columns}) "  # noqa: S608  (our own names)
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if not locking:
        return fields, f"{sql} RETURNING {_quote(meta.pk.column)}"
    key = _quote(meta.get_field(locking).column)
    return fields, f"{sql} ON CONFLICT ({key}) DO UPDATE SET {key} = EXCLUDED.{key}"


def _update_sql(
    model: type[models.Model], names: tuple[str, ...] | None
) -> tuple[list[models.Field], str]:
    meta = model._meta
    fields = (
        [meta.get_field(name) for name in names]
        if names is not None
        else [f for f in meta.concrete_fields if not f.primary_key]
    )
    return fields, (
        f"UPDATE {_quote(meta.db_table)} SET "  # noqa: S608  (our own names)
        + ", ".join(f"{_quote(f.column)} = %s" for f in fields)
        + f" WHERE {_quote(meta.pk.column)} = %s"
    )


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


# How several statements can share one query, by driver. psycopg 3 with client-side binding
# (Django's default) sends them in one query and hands back each one's results in turn.
# psycopg2 sends them too but keeps only the last one's results. Server-side binding (the
# `server_side_binding` option) prepares each query, and a prepared query holds one statement.
EACH_RESULT, LAST_RESULT, ONE_BY_ONE = "each result", "last result", "one by one"


def batching(db: Any = None) -> str:
    """How this connection's driver runs several statements in one query (see above); kept
    on the connection's wrapper (`db`, the default one unless given), as every query of a
    duplicate delivery asks."""
    wrapper = db if db is not None else connections[DEFAULT_DB_ALIAS]
    try:
        return wrapper.bootwebhooks_batching
    except AttributeError:
        wrapper.bootwebhooks_batching = _batching(wrapper)
        return wrapper.bootwebhooks_batching


def _batching(wrapper: Any) -> str:
    if wrapper.vendor != "postgresql":
        return ONE_BY_ONE  # sqlite3 runs one statement per execute()
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return LAST_RESULT
    if wrapper.settings_dict["OPTIONS"].get("server_side_binding") is True:
        return ONE_BY_ONE
    return EACH_RESULT


def send(cursor: Any, parts: Sequence[Statement]) -> None:
    """Run `parts` in order, in one round trip where the driver allows; the cursor is left on
    the last one's results."""
    mode = batching(cursor.db)
    if mode == ONE_BY_ONE:
        for sql, params in parts:
            cursor.execute(sql, params)
        return
    texts, learned = _prepared(cursor.db, parts)
    _execute_together(cursor, texts)
    if mode == EACH_RESULT:
        for _ in texts[1:]:
            _next_result(cursor)
    learned()


def read_each(cursor: Any, parts: Sequence[Statement]) -> list[list[tuple]]:
    """Run `parts` in order and return each one's rows ([] for a statement without any), in
    one round trip where the driver hands back every result (psycopg 3, client-side binding).

    Each statement sees what the ones before it did and waited for: PostgreSQL runs the
    statements of one query one after another, each with a new snapshot in READ COMMITTED.
    """
    mode = batching(cursor.db)
    if mode == EACH_RESULT:
        texts, learned = _prepared(cursor.db, parts)
        _execute_together(cursor, texts)
        rows = []
        for number, (_, _, own) in enumerate(texts):
            if number:
                _next_result(cursor)
            if own:
                rows.append(_rows(cursor))
        learned()
        return rows
    found = []
    for part in parts:
        if mode == ONE_BY_ONE:
            cursor.execute(*part)
        else:  # the last result is the part's own
            texts, learned = _prepared(cursor.db, [part])
            _execute_together(cursor, texts)
            learned()
        found.append(_rows(cursor))
    return found


# A statement as sent: its text, its parameters, and whether its result is a part's own (a
# PREPARE sent ahead of its first EXECUTE has none).
_Text = tuple[str, Sequence[Any], bool]


def _next_result(cursor: Any) -> None:
    """The next statement's results, from psycopg 3 itself: it holds every result of the
    query once `execute` returns (an error raised there), so this needs none of the error
    handling Django wraps around each cursor call, which cost as much as the move."""
    cursor.cursor.nextset()


def _execute_together(cursor: Any, texts: Sequence[_Text]) -> None:
    try:
        cursor.execute(
            "; ".join(sql for sql, _, _ in texts), [p for _, params, _ in texts for p in params]
        )
    except DatabaseError as exc:
        if sqlstate(exc.__cause__) in _STALE:  # the driver's error, under Django's
            _forget(cursor.db)
        raise


# The session's prepared statements no longer serve: a table's column changed type under one
# (feature_not_supported: "cached plan must not change result type"), or someone else
# deallocated them (invalid_sql_statement_name: DISCARD ALL, DEALLOCATE).
_STALE = frozenset({"0A000", "26000"})


def sqlstate(exc: BaseException | None) -> str | None:
    """The SQLSTATE of a driver's error: psycopg 3 calls it `sqlstate`, psycopg2 `pgcode`."""
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def _forget(db: Any) -> None:
    """Prepare every statement again from the next query on: this one failed, and so does
    its transaction, but no later one for the same reason (names are still never reused)."""
    session = db.__dict__.get("bootwebhooks_session")
    if session is not None:
        session.names.clear()


class _Session:
    """The statements prepared in one PostgreSQL session (`PREPARE name AS ...`, sent in the
    same query as its first `EXECUTE name(...)`), by SQL text.

    A name is remembered once the query that prepared it succeeded. A query that failed may
    or may not have prepared its names (PREPARE is not undone by a rollback), so names are
    never reused: the statement is prepared again under a new one. The limit counts every
    PREPARE sent (`made`), remembered or not, so the session never holds more than it, even
    after `_forget`: those statements stay in PostgreSQL until the connection closes.
    """

    LIMIT = 100  # PREPAREs sent per session; once reached, statements are sent as they are

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # the driver's connection: a new one is a new session
        self.names: dict[str, str] = {}  # SQL text -> its `EXECUTE name(%s, ...)`
        self.made = 0


def _prepared(db: Any, parts: Sequence[Statement]) -> tuple[list[_Text], Callable[[], None]]:
    """The statements that run `parts`: `EXECUTE` of each part the session has prepared,
    `PREPARE` then `EXECUTE` for one it has not, or the part itself where statements are not
    prepared (`_session`); and what to call once they ran, which remembers what they
    prepared."""
    session = _session(db)
    if session is None:
        return [(sql, params, True) for sql, params in parts], _nothing
    texts: list[_Text] = []
    new: dict[str, str] = {}
    for sql, params in parts:
        execute = session.names.get(sql) or new.get(sql)
        if execute is None and _preparable(sql, params, session.made):
            session.made += 1
            name = f"bootwebhooks_{session.made}"
            texts.append((f"PREPARE {name} AS {_numbered(sql)}", (), False))
            execute = new[sql] = f"EXECUTE {name}({', '.join(['%s'] * len(params))})"
        texts.append((sql if execute is None else execute, params, True))
    return texts, (functools.partial(session.names.update, new) if new else _nothing)


def _nothing() -> None:
    pass


def _preparable(sql: str, params: Sequence[Any], made: int) -> bool:
    """A query with parameters, each a `%s`, while the session has room for more."""
    return (
        bool(params)
        and made < _Session.LIMIT
        and _PREPARABLE.match(sql) is not None
        and sql.count("%s") == len(params)
        and "%%" not in sql
    )


_PREPARABLE = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _numbered(sql: str) -> str:
    """`sql` with its `%s` placeholders numbered for PREPARE: $1, $2, ..."""
    numbers = iter(range(1, sql.count("%s") + 1))
    return re.sub("%s", lambda _: f"${next(numbers)}", sql)


def _session(db: Any) -> _Session | None:
    """The prepared statements of `db`'s session; None where statements are not prepared:
    off PostgreSQL or with server-side binding (which prepares its own), over a connection not
    kept between requests (`CONN_MAX_AGE` 0: preparing would cost more than it saves), with
    `DISABLE_SERVER_SIDE_CURSORS` (Django's setting for a pooler in transaction mode, where
    the next transaction may run in another session), with WEBHOOK_PREPARED_STATEMENTS off,
    and inside `unprepared()`."""
    if batching(db) == ONE_BY_ONE or db.__dict__.get("bootwebhooks_unprepared"):
        return None
    settings = db.settings_dict  # CONN_MAX_AGE None: kept for ever
    if settings.get("CONN_MAX_AGE", 0) == 0 or settings.get("DISABLE_SERVER_SIDE_CURSORS"):
        return None
    if not app_settings.WEBHOOK_PREPARED_STATEMENTS:
        return None
    session = db.__dict__.get("bootwebhooks_session")
    if session is None or session.raw is not db.connection:
        session = db.__dict__["bootwebhooks_session"] = _Session(db.connection)
    return session


@contextmanager
def unprepared(db: Any = None) -> Iterator[None]:
    """Send statements as they are written inside this block, for a reader of the SQL text
    (the retry preview counts the writes it sees)."""
    wrapper = db if db is not None else connections[DEFAULT_DB_ALIAS]
    before = wrapper.__dict__.get("bootwebhooks_unprepared", False)
    wrapper.bootwebhooks_unprepared = True
    try:
        yield
    finally:
        wrapper.bootwebhooks_unprepared = before


def _rows(cursor: Any) -> list[tuple]:
    """The rows of the cursor's current result; [] for a statement that returns none. psycopg
    3 is asked through its result (its `description` makes an object per column each time,
    which cost more than reading the rows); other drivers through `description`."""
    result = getattr(cursor.cursor, "pgresult", _NOT_PSYCOPG3)
    if result is _NOT_PSYCOPG3:
        return cursor.fetchall() if cursor.description is not None else []
    return cursor.fetchall() if result is not None and result.nfields else []


_NOT_PSYCOPG3 = object()


# A statement whose rows are a model's, and how to make instances of them (`read_all`).
Read = tuple[Statement, Callable[[list[tuple]], list[models.Model]]]


def read_all(reads: Sequence[Read]) -> list[list[models.Model]]:
    """The instances each of `reads` returns, its statements run in order: in one round trip
    where the driver hands back each statement's results, else one after another."""
    with connection.cursor() as cursor:
        found = read_each(cursor, [statement for statement, _ in reads])
    return [instances(rows) for (_, instances), rows in zip(reads, found, strict=True)]


def read(rows: models.QuerySet) -> Read:
    """A queryset as a `Read`: its SQL, and its rows made into instances as the ORM would."""
    compiler = rows.query.get_compiler(using=rows.db)
    sql = compiler.as_sql()
    return sql, _Instances(compiler, rows)


def returning(model: type[models.Model], sql: str, params: Sequence[Any]) -> Read:
    """A writing statement as a `Read`: RETURNING every column of `model`'s rows, made into
    instances as the ORM would."""
    _, columns, instances = _model_rows(model)
    return (f"{sql} RETURNING {columns}", params), instances


def selecting(model: type[models.Model], where: str, params: Sequence[Any]) -> Read:
    """`model`'s rows that the SQL condition `where` picks, as a `Read`."""
    table, columns, instances = _model_rows(model)
    return (f"SELECT {columns} FROM {table} WHERE {where}", params), instances  # noqa: S608


def among(model: type[models.Model], name: str, values: Sequence[Any]) -> Statement:
    """The condition that `model`'s field `name` is one of `values` (at least one), for
    `selecting`: `"column" IN (%s, ...)`, as `filter(name__in=values)` writes it."""
    column = _quote(model._meta.get_field(name).column)
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _model_rows(model: type[models.Model]) -> tuple[str, str, "_Instances"]:
    """`model`'s table and every column, in the order a queryset selects them, and how to
    make its instances of rows of those columns. Compiled once per model and connection (a
    thread's own), as every event pays for it: compiling cost a tenth of a worker's CPU."""
    wrapper = connections[model._base_manager.db]
    known = wrapper.__dict__.setdefault("bootwebhooks_model_rows", {})
    if model not in known:
        rows = model._base_manager.all()
        compiler = rows.query.get_compiler(using=rows.db)
        compiler.as_sql()  # sets compiler.select
        quote = wrapper.ops.quote_name
        columns = ", ".join(quote(col.target.column) for col, _, _ in compiler.select)
        known[model] = quote(model._meta.db_table), columns, _Instances(compiler, rows)
    return known[model]


class _Instances:
    """The model instances of a queryset's rows read apart from it (`compiler` compiled it):
    each column through its field's converters (JSON, SQLite's dates), as the ORM does. What
    depends only on the query (the names, the converters) is worked out once."""

    def __init__(self, compiler: Any, rows: models.QuerySet) -> None:
        selected = compiler.klass_info["select_fields"]
        self.start, self.end = selected[0], selected[-1] + 1
        self.names = [col.target.attname for col, _, _ in compiler.select[self.start : self.end]]
        self.fields = [col for col, _, _ in compiler.select[: compiler.col_count]]
        self.converters = compiler.get_converters(self.fields)
        self.composite = compiler.has_composite_fields(self.fields)
        self.compiler, self.model, self.db = compiler, rows.model, rows.db

    def __call__(self, found: list[tuple]) -> list[models.Model]:
        """As `compiler.results_iter(results=[found])` makes the rows, then instances."""
        if self.converters:
            found = self.compiler.apply_converters(found, self.converters)
        if self.composite:
            found = self.compiler.composite_fields_to_tuples(found, self.fields)
        start, end, names, from_db = self.start, self.end, self.names, self.model.from_db
        return [from_db(self.db, names, values[start:end]) for values in found]
