"""PostgreSQL as the controller's state store: what lets one schema and one body of SQL serve it and SQLite.

The services were written against SQLite, and their hot paths (S3's catalog, SQS's store, SNS) send
SQLite-flavoured SQL straight to the driver with ``?`` placeholders. Rather than fork every statement,
PostgreSQL is taught SQLite's few habits here, in one place:

* types: SQLite's INTEGER is 64-bit and its VARCHAR(n) has no limit, so on PostgreSQL an Integer is BIGINT
  (millisecond timestamps overflow INTEGER) and a String has no length; text sorts in byte order (COLLATE
  "C", SQLite's BINARY); booleans stay 0/1 integers
  (SMALLINT, ``supports_native_boolean=False``), because raw SQL compares them with 0 and 1;
* statements: every cursor is a :class:`SqliteFlavouredCursor`, which rewrites ``?`` placeholders, ``INSERT OR
  IGNORE`` and ``INSERT OR REPLACE`` (the latter upserts on the table's primary key);
* functions: ``json_extract``, ``json_each``, ``instr`` and a ``glob`` for EC2's filters (:data:`FUNCTIONS`);
* writers: SQLite has one writer at a time, and the services' read-modify-write transitions rely on it. On
  PostgreSQL every write transaction first takes one transaction-scoped advisory lock
  (:data:`WRITER_LOCK`), so writers of every controller process on the database run one after another, as
  on SQLite, while readers never wait (MVCC). A transition read under the lock cannot be lost or doubled by
  another process's, on any machine.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader
from sqlalchemy import Boolean, Column, Connection, Integer, MetaData, String, Text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles

#: The key of the advisory lock every write transaction takes first (any constant; "cloudlet" in ASCII).
WRITER_LOCK = 0x636C6F75646C6574


# In column definitions only: SQLAlchemy's own catalog queries CAST to these types and need PostgreSQL's
# meaning of them. (The engine renders no casts on bound values: ``bind_typing`` in ``state/__init__.py``.)
@compiles(Integer, "postgresql")
def _integer_as_bigint(type_: Any, compiler: Any, **kw: Any) -> str:
    return "BIGINT" if isinstance(kw.get("type_expression"), Column) else compiler.visit_integer(type_, **kw)


# Text compares byte by byte, as SQLite's BINARY collation does, whatever the database's locale: listings
# (S3 keys, IAM names) are in AWS's order, and "a" < "B" < "b" stays false.
@compiles(String, "postgresql")
def _string_without_limit(type_: Any, compiler: Any, **kw: Any) -> str:
    if isinstance(kw.get("type_expression"), Column):
        return 'VARCHAR COLLATE "C"'
    return compiler.visit_string(type_, **kw)


@compiles(Text, "postgresql")
def _text_in_byte_order(type_: Any, compiler: Any, **kw: Any) -> str:
    return 'TEXT COLLATE "C"' if isinstance(kw.get("type_expression"), Column) else compiler.visit_text(type_, **kw)


@compiles(Boolean, "postgresql")
def _boolean_as_integer(type_: Any, compiler: Any, **kw: Any) -> str:
    return "SMALLINT" if isinstance(kw.get("type_expression"), Column) else compiler.visit_boolean(type_, **kw)


#: SQLite's functions the services call, as PostgreSQL functions over the same JSON text; ``glob(pattern,
#: value)`` (SQLite's GLOB: ``*``, ``?`` and ``[...]`` classes) as an anchored regular expression.
FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION json_extract(document text, path text) RETURNS text
       LANGUAGE sql IMMUTABLE AS
       $$ SELECT (document::jsonb) #>> string_to_array(substr(path, 3), '.') $$""",
    """CREATE OR REPLACE FUNCTION json_each(document text) RETURNS TABLE (value text)
       LANGUAGE sql IMMUTABLE AS
       $$ SELECT jsonb_array_elements_text(document::jsonb) $$""",
    # SQLAlchemy's own catalog queries compare PostgreSQL's booleans with 0 and 1 once the dialect's booleans
    # are integers (``supports_native_boolean=False``): they need ``boolean = integer``.
    """CREATE OR REPLACE FUNCTION cloudlet_boolean_is(flag boolean, number integer) RETURNS boolean
       LANGUAGE sql IMMUTABLE AS $$ SELECT flag = (number <> 0) $$""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_operator WHERE oprname = '='
                        AND oprleft = 'boolean'::regtype AND oprright = 'integer'::regtype) THEN
           CREATE OPERATOR = (LEFTARG = boolean, RIGHTARG = integer, FUNCTION = cloudlet_boolean_is);
         END IF;
       END $$""",
    # SQLite's two-argument min/max (PostgreSQL's are aggregates of one): Logs' stream bounds, retention.
    """CREATE OR REPLACE FUNCTION min(a bigint, b bigint) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE LEAST(a, b) END $$""",
    """CREATE OR REPLACE FUNCTION max(a bigint, b bigint) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE GREATEST(a, b) END $$""",
    """CREATE OR REPLACE FUNCTION instr(haystack text, needle text) RETURNS integer
       LANGUAGE sql IMMUTABLE AS $$ SELECT strpos(haystack, needle) $$""",
    r"""CREATE OR REPLACE FUNCTION glob(pattern text, value text) RETURNS boolean
       LANGUAGE plpgsql IMMUTABLE AS $$
       DECLARE expression text := '^'; i integer := 1; c text; closing integer;
       BEGIN
         WHILE i <= length(pattern) LOOP
           c := substr(pattern, i, 1);
           IF c = '*' THEN expression := expression || '.*';
           ELSIF c = '?' THEN expression := expression || '.';
           ELSIF c = '[' THEN
             closing := strpos(substr(pattern, i + 2), ']');
             IF closing = 0 THEN expression := expression || '\[';
             ELSE
               expression := expression || '[' || replace(replace(substr(pattern, i + 1, closing), '\', '\\'),
                                                         '[', '\[') || ']';
               i := i + closing + 1;
             END IF;
           ELSE expression := expression || regexp_replace(c, '([.^$+(){}|\\])', '\\\1');
           END IF;
           i := i + 1;
         END LOOP;
         RETURN value ~ (expression || '$');
       END $$""",
)


def install_functions(conn: Connection) -> None:
    """(Re)create :data:`FUNCTIONS` in the database (idempotent; run at every start, under the writer lock)."""
    for statement in FUNCTIONS:
        conn.exec_driver_sql(statement)


def index_names(conn: Connection) -> set[str]:
    """The indexes of the connection's schema, in one query (reflecting each of ~160 indexes takes seconds)."""
    return {row[0] for row in conn.exec_driver_sql(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}


def conninfo(url: str) -> str:
    """psycopg's connection string for a SQLAlchemy URL (``postgresql+psycopg://...``): what the connections
    of the state bus and of the leader election open outside SQLAlchemy's pool."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def take_writer_lock(conn: Connection) -> None:
    """Make ``conn``'s transaction the database's one writer until it ends (see the module's docstring)."""
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")


class _BooleanAsNumber(Dumper):
    """Python's booleans as 0 and 1 (SMALLINT), what the store's boolean columns hold (raw SQL passes them)."""

    oid = psycopg.adapters.types["int2"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class _NumberLoader(Loader):
    """NUMERIC results (SUM and AVG of integers) as int or float, as SQLite gives them, not Decimal (which
    neither JSON nor the services expect)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


def configure_connection(dbapi_connection: psycopg.Connection, tables: MetaData) -> None:
    """A new psycopg connection's settings: SQLite-flavoured statements (given ``tables`` for their keys)."""
    dbapi_connection.cursor_factory = functools.partial(SqliteFlavouredCursor, tables=tables)
    dbapi_connection.adapters.register_loader("numeric", _NumberLoader)
    dbapi_connection.adapters.register_dumper(bool, _BooleanAsNumber)


class SqliteFlavouredCursor(psycopg.Cursor):
    """A psycopg cursor that runs the SQLite-flavoured SQL the services write (:func:`translate`)."""

    def __init__(self, connection: psycopg.Connection, *, tables: MetaData, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._tables = tables

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> SqliteFlavouredCursor:
        if isinstance(query, str):
            query = translate(query, _positional(params), self._tables)
        return super().execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> None:
        params_seq = list(params_seq)
        if isinstance(query, str):
            query = translate(query, bool(params_seq) and _positional(params_seq[0]), self._tables)
        super().executemany(query, params_seq, **kwargs)


def _positional(params: Any) -> bool:
    """Whether ``params`` go with ``?`` placeholders (SQLAlchemy's own statements pass a mapping)."""
    return isinstance(params, Sequence) and not isinstance(params, str | bytes)


_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.IGNORECASE)
_RETURNING = re.compile(r"\s+RETURNING\s+", re.IGNORECASE)
_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|%")


def translate(sql: str, positional: bool, tables: MetaData) -> str:
    """``sql`` as PostgreSQL runs it: ``?`` placeholders (when ``positional``) as psycopg's ``%s`` (and a
    literal ``%`` doubled), ``INSERT OR IGNORE``/``OR REPLACE`` as ``ON CONFLICT`` clauses."""
    return _translate(sql, positional, id(tables), tables)


@functools.lru_cache(maxsize=4096)
def _translate(sql: str, positional: bool, _tables_id: int, tables: MetaData) -> str:
    found = _INSERT_OR.match(sql)
    if found:
        sql = _insert_or(sql, found, tables)
    if positional:
        sql = _QUOTED_OR_MARK.sub(_positional_token, sql)
    return sql


def _positional_token(found: re.Match[str]) -> str:
    """A ``?`` outside quotes is a placeholder; a ``%`` anywhere, quoted or not, is psycopg's to escape."""
    token = found.group(0)
    return "%s" if token == "?" else token.replace("%", "%%")


def _insert_or(sql: str, found: re.Match[str], tables: MetaData) -> str:
    action, table_name, columns = found.group(1).upper(), found.group(2), found.group(3)
    if action == "IGNORE":
        conflict = " ON CONFLICT DO NOTHING"
    else:
        key = [column.name for column in tables.tables[table_name].primary_key.columns]
        updated = [name.strip() for name in columns.split(",") if name.strip() not in key]
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in updated)
        conflict = f" ON CONFLICT ({', '.join(key)}) " + (f"DO UPDATE SET {assignments}" if updated else "DO NOTHING")
    statement = "INSERT INTO" + sql[found.start(2) - 1:]  # from the space before the table's name
    returning = _RETURNING.search(statement)
    if returning is None:
        return statement.rstrip().rstrip(";") + conflict
    return statement[:returning.start()] + conflict + statement[returning.start():]
