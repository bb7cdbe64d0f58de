"""``app.db.direct``: a statement sent on the driver's own cursor reads and writes the same values,
of the same types, as ``Connection.execute`` on both backends; it fires the connection's statement
events, and a driver error is the same wrapped error.  The module uses no private name of
SQLAlchemy (nor does the rest of ``app``)."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import bindparam, create_engine, event, func, insert, literal_column, select, text, update
from sqlalchemy.engine.cursor import CursorResult
from sqlalchemy.engine.default import DefaultDialect, DefaultExecutionContext
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.state import InstanceState
from sqlalchemy.pool import PoolProxiedConnection, QueuePool
from sqlalchemy.sql.compiler import Compiled, SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeDecorator

from app.db import tables as db
from app.db.direct import direct, execute, execute_many, execute_one
from app.db.session import LOST_CONNECTION, get_engine, unavailable_reason
from app.db.tx import retry_reason
from tests.support.statements import transactions

BILL = db.core_table(db.Bill)
TOTAL = db.core_table(db.YearTotal)


def bill_row(bill_id: str, bill_no: str) -> dict[str, Any]:
    return {
        "id": bill_id,
        "hospital_code": "H1",
        "bill_no": bill_no,
        "hospital_name": "医院 One",
        "hospital_level": 3,
        "hospital_region": "511623",
        "patient_id_number": "110105194912310029",
        "patient_name": "张三",
        "setting": "inpatient",
        "admission_date": date(2026, 3, 1),
        "discharge_date": date(2026, 3, 9),
        "diagnoses": ["J18.9"],
        "items": [{"line_no": 1, "amount": "12.30", "name": "药品"}],
        "work_injury": None,
        "medical_total": Decimal("1234567.89"),
        "content_hash": "h",
        "paid_total": Decimal("0.10"),
        "last_sequence": 0,
        "created_by": "c",
        "created_at": datetime(2026, 3, 9, 10, 11, 12, 345678, tzinfo=UTC),
    }


BY_ID = select(BILL).where(BILL.c.id == bindparam("id"))
TOTALS = select(TOTAL.c.fund_paid, TOTAL.c.deductible_inpatient).where(TOTAL.c.scheme_code == bindparam("code"))


def test_direct_rows_equal_sqlalchemys_values_and_types(db_url: str) -> None:
    engine = get_engine()
    with engine.begin() as conn:
        execute(conn, insert(BILL), bill_row("b1", "N1"))  # written directly
        conn.execute(insert(BILL), bill_row("b2", "N2"))  # written by SQLAlchemy
    with engine.connect() as conn:
        assert direct(conn, BY_ID, {"id": "b1"}) is not None  # not the fallback
        for bill_id in ("b1", "b2"):
            mine = execute_one(conn, BY_ID, {"id": bill_id})
            theirs = conn.execute(BY_ID, {"id": bill_id}).one()
            assert tuple(mine) == tuple(theirs)
            assert [type(v) for v in mine] == [type(v) for v in theirs]
            assert mine._asdict() == dict(theirs._mapping)
        row = execute_one(conn, BY_ID, {"id": "b1"})
        assert row.medical_total == Decimal("1234567.89") and str(row.paid_total) == "0.10"
        assert row.created_at == datetime(2026, 3, 9, 10, 11, 12, 345678, tzinfo=UTC)
        assert row.items == [{"line_no": 1, "amount": "12.30", "name": "药品"}]
        assert row.work_injury is None
        assert execute(conn, BY_ID, {"id": "none"}) == []
        assert execute_one(conn, BY_ID, {"id": "none"}) is None


def test_money_keeps_its_cents_on_both_backends(db_url: str) -> None:
    engine = get_engine()
    key = {"scheme_code": "S", "id_number": "X", "year": 2026}
    rest = {"deductible_outpatient": Decimal("0"), "compliant_self_pay": Decimal("0")}
    with engine.begin() as conn:
        s = {**key, **rest, "fund_paid": Decimal("0.07"), "deductible_inpatient": Decimal("800.50")}
        execute(conn, insert(TOTAL), s)
        execute(conn, insert(TOTAL), {**s, "scheme_code": "T", "fund_paid": Decimal("1"), "deductible_inpatient": 2})
    with engine.connect() as conn:
        assert tuple(execute_one(conn, TOTALS, {"code": "S"})) == (Decimal("0.07"), Decimal("800.50"))
        one = execute_one(conn, TOTALS, {"code": "T"})
        assert (str(one.fund_paid), str(one.deductible_inpatient)) == ("1.00", "2.00")
        assert {type(v) for v in one} == {Decimal}


def test_labelled_columns_a_repeated_parameter_and_returning_rows(db_url: str) -> None:
    """Rows are named as SQLAlchemy names them (labels, a scalar subquery's label), a parameter
    used twice is sent once by name, and ``RETURNING`` rows come back converted (money a Decimal)."""
    per_hospital = (
        select(func.count()).select_from(BILL).where(BILL.c.hospital_code == bindparam("code")).scalar_subquery()
    )
    labelled = (
        select(BILL.c.bill_no, BILL.c.paid_total.label("paid"), per_hospital.label("bills"))
        .where(BILL.c.hospital_code == bindparam("code"), BILL.c.bill_no != "")  # a literal: its own parameter
        .order_by(BILL.c.bill_no)
        .limit(5)
    )
    pay = (
        update(BILL)
        .where(BILL.c.id == bindparam("b_id"))
        .values(paid_total=bindparam("paid"))
        .returning(BILL.c.id, BILL.c.paid_total)
    )
    engine = get_engine()
    with engine.begin() as conn:
        execute(conn, insert(BILL), bill_row("b1", "N1"))
        execute(conn, insert(BILL), {**bill_row("b2", "N2"), "hospital_code": "H2"})
        returned = execute(conn, pay, {"b_id": "b1", "paid": Decimal("99.95")})
        assert [(r.id, r.paid_total) for r in returned] == [("b1", Decimal("99.95"))]
        assert type(returned[0].paid_total) is Decimal
        assert execute(conn, pay, {"b_id": "none", "paid": Decimal("1")}) == []
    with engine.connect() as conn:
        assert direct(conn, labelled, {"code": "H1"}) is not None  # not the fallback
        mine = execute(conn, labelled, {"code": "H1"})
        theirs = conn.execute(labelled, {"code": "H1"}).all()
        assert [r._asdict() for r in mine] == [dict(r._mapping) for r in theirs]
        assert [tuple(r) for r in mine] == [("N1", Decimal("99.95"), 1)]
        assert type(mine[0].paid) is Decimal


def test_a_statement_of_many_parameters_and_a_literal_percent_sign(db_url: str) -> None:
    """Past psycopg's cache limits (more than 50 parameters, more than 4,096 bytes) and with a
    percent sign of its own (``LIKE``), a statement sends each value to its place and the percent
    sign as itself: the same rows as SQLAlchemy's."""
    names = [f"p{i:02d}" for i in range(60)]
    many = select(
        *[bindparam(name, type_=BILL.c.paid_total.type).label(f"c_{name}_{'x' * 60}") for name in names],
        select(func.count())
        .select_from(BILL)
        .where(BILL.c.bill_no.like(literal_column("'N%'")))
        .scalar_subquery()
        .label("n"),
    )
    params = {name: Decimal(f"{i}.{i:02d}") for i, name in enumerate(names)}
    engine = get_engine()
    with engine.begin() as conn:
        execute(conn, insert(BILL), bill_row("b1", "N1"))
        execute(conn, insert(BILL), bill_row("b2", "X2"))
    with engine.connect() as conn:
        compiled = direct(conn, many, params)
        assert compiled is not None and len(compiled.sql) > 4096 and len(compiled.binds) == 60
        assert "'N%'" in compiled.sql  # the SQL's own percent sign, undoubled on either paramstyle
        mine = execute_one(conn, many, params)
        theirs = conn.execute(many, params).one()
        assert tuple(mine) == tuple(theirs)
        assert mine[0] == Decimal("0.00") and mine[59] == Decimal("59.59") and mine.n == 1


def test_postgresql_prepares_a_statement_at_its_first_execution(pg_url: str) -> None:
    """Server-side prepared from the first execution on a connection (psycopg would otherwise
    plan it five times first), and executed again as prepared."""
    by_number = select(BILL.c.id).where(BILL.c.bill_no == bindparam("no"))
    prepared = text("SELECT count(*) FROM pg_prepared_statements")
    with get_engine().connect() as conn:
        before = conn.execute(prepared).scalar_one()
        assert execute(conn, by_number, {"no": "N1"}) == []
        assert conn.execute(prepared).scalar_one() == before + 1
        execute(conn, insert(BILL), bill_row("b1", "N1"))
        assert [tuple(r) for r in execute(conn, by_number, {"no": "N1"})] == [("b1",)]
        assert conn.execute(prepared).scalar_one() == before + 2  # the insert; the select's reused


def test_a_missing_parameter_is_refused_before_anything_is_sent(db_url: str) -> None:
    with get_engine().connect() as conn, pytest.raises(KeyError, match="'id'"):
        execute(conn, BY_ID, {})


def test_statements_fire_the_connections_events_and_errors_are_wrapped_as_before(db_url: str) -> None:
    engine = get_engine()
    seen: list[str] = []

    def on_statement(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(maxsplit=1)[0])

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        with engine.begin() as conn:
            execute(conn, insert(BILL), bill_row("b1", "N1"))
            execute(conn, BY_ID, {"id": "b1"})
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert [s for s in seen if s != "BEGIN"] == ["INSERT", "SELECT"]  # (SQLite: its BEGIN too)
    with pytest.raises(IntegrityError) as raised, engine.begin() as conn:
        execute(conn, insert(BILL), bill_row("b1", "N1"))
    assert isinstance(raised.value, DBAPIError) and not raised.value.connection_invalidated
    assert retry_reason(raised.value) in {"23505", "unique_constraint_failed"}
    with engine.begin() as conn:  # the connection (and a new cursor) serves the next statement
        assert execute_one(conn, BY_ID, {"id": "b1"}).bill_no == "N1"


def test_many_rows_in_one_executemany_read_back_as_sqlalchemy_writes_them(db_url: str) -> None:
    engine = get_engine()
    seen: list[str] = []

    def on_statement(_conn: Any, _cur: Any, statement: str, _params: Any, _context: Any, many: bool) -> None:
        seen.append(f"{statement.split(maxsplit=1)[0]} many={many}")

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        with engine.begin() as conn:
            execute_many(conn, insert(BILL), [bill_row("b1", "N1"), {**bill_row("b2", "N2"), "paid_total": 3}])
            execute_many(conn, insert(BILL), [])
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert [s for s in seen if not s.startswith("BEGIN")] == ["INSERT many=True"]
    with engine.begin() as conn:
        conn.execute(insert(BILL), [bill_row("b3", "N3")])
    with engine.connect() as conn:
        mine = execute_one(conn, BY_ID, {"id": "b1"})
        theirs = conn.execute(BY_ID, {"id": "b3"}).one()
        assert {k: v for k, v in mine._asdict().items() if k not in ("id", "bill_no")} == {
            k: v for k, v in theirs._mapping.items() if k not in ("id", "bill_no")
        }
        assert str(execute_one(conn, BY_ID, {"id": "b2"}).paid_total) == "3.00"
    with pytest.raises(IntegrityError), engine.begin() as conn:
        execute_many(conn, insert(BILL), [bill_row("b4", "N4"), bill_row("b1", "N1")])
    with engine.connect() as conn:
        assert execute_one(conn, BY_ID, {"id": "b4"}) is None  # rolled back with the failure


def test_a_statement_that_needs_sqlalchemys_execution_goes_through_it(db_url: str) -> None:
    expanding = select(BILL.c.id).where(BILL.c.id.in_(bindparam("ids", expanding=True)))
    with get_engine().begin() as conn:
        execute(conn, insert(BILL), bill_row("b1", "N1"))
        assert direct(conn, expanding, {"ids": ["b1"]}) is None
        assert [tuple(r) for r in execute(conn, expanding, {"ids": ["b1", "b9"]})] == [("b1",)]


def test_a_lost_connection_is_told_as_before_and_the_pool_recovers(pg_url: str) -> None:
    """A backend terminated under a transaction: the error is SQLAlchemy's disconnect (what
    ``app.db.tx`` retries on a new connection), not one about the kept cursor."""
    engine = get_engine()
    with engine.begin() as conn:
        execute(conn, insert(BILL), bill_row("b1", "N1"))
    other = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(DBAPIError) as raised, engine.begin() as conn:
            pid = execute_one(conn, select(func.pg_backend_pid()))[0]
            with other.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            execute(conn, BY_ID, {"id": "b1"})
    finally:
        other.dispose()
    assert raised.value.connection_invalidated
    assert unavailable_reason(raised.value) in LOST_CONNECTION
    with engine.begin() as conn:
        assert execute_one(conn, BY_ID, {"id": "b1"}).bill_no == "N1"


#: What SQLAlchemy keeps private: underscore names of the classes the service touches (their
#: attributes and methods), and two compiler attributes the hot path once read.  The rows' own
#: underscore API (``_asdict``, ``_mapping``, ...) is public and not among them.
_SQLALCHEMY_CLASSES = (
    sqlalchemy.Connection,
    sqlalchemy.Engine,
    Session,
    Compiled,
    SQLCompiler,
    DefaultDialect,
    DefaultExecutionContext,
    CursorResult,
    sqlalchemy.Table,
    sqlalchemy.Column,
    sqlalchemy.MetaData,
    sqlalchemy.Select,
    sqlalchemy.Insert,
    sqlalchemy.Update,
    sqlalchemy.Delete,
    BindParameter,
    TypeDecorator,
    Mapper,
    InstanceState,
    PoolProxiedConnection,
    QueuePool,
)
_KNOWN_PRIVATE = ("_cursor_execute", "_result_columns", "positiontup", "escaped_bind_names", "_sa_class_manager")


def _private_sqlalchemy_names() -> set[str]:
    """The classes' underscore names, and those of live objects (attributes set per instance)."""
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn, Session(conn) as session:
            compiled = select(BILL).where(BILL.c.id == bindparam("id")).compile(dialect=engine.dialect)
            live = (engine, engine.pool, engine.dialect, conn, conn.connection, session, compiled)
            names = {n for each in (*_SQLALCHEMY_CLASSES, *live) for n in dir(each)}
    finally:
        engine.dispose()
    return {n for n in names if n.startswith("_") and not n.startswith("__")} | set(_KNOWN_PRIVATE)


def _private_uses(source: str) -> list[tuple[int, str]]:
    """Lines and names of SQLAlchemy's private names in ``source``: attributes read or called,
    ``getattr`` by name, imports of underscore names or modules from ``sqlalchemy``."""
    private = _private_sqlalchemy_names()
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and (node.attr in private or node.attr.startswith("_sa_")):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"getattr", "hasattr"}:
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value in private:
                found.append((node.lineno, name.value))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            parts = (node.module or "").split(".") + [alias.name for alias in node.names]
            found += [(node.lineno, part) for part in parts if part.startswith("_")]
    return found


def test_the_private_names_scan_finds_the_hot_paths_former_uses() -> None:
    former = """
from sqlalchemy.engine._processors_cy import to_decimal
conn._cursor_execute(cursor, sql, parameters)
names = compiled.positiontup, compiled.escaped_bind_names, compiled._result_columns
manager = model._sa_class_manager
pre_ping = getattr(engine.pool, "_pre_ping", False)
row._asdict(), row._mapping, compiled.binds
"""
    assert sorted(name for _line, name in _private_uses(former)) == [
        "_cursor_execute",
        "_pre_ping",
        "_processors_cy",
        "_result_columns",
        "_sa_class_manager",
        "escaped_bind_names",
        "positiontup",
    ]


def test_app_uses_no_private_name_of_sqlalchemy() -> None:
    app = Path(__file__).resolve().parents[1] / "app"
    found = [
        f"{path.relative_to(app.parent)}:{line}: {name}"
        for path in sorted(app.rglob("*.py"))
        for line, name in _private_uses(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_insert_many_writes_each_value_as_sqlalchemy_writes_it(db_url: str) -> None:
    """One statement for all the rows (on PostgreSQL a JSON document of them): every type the bill
    has (money, dates, a timestamp with its microseconds, JSON, text with quotes and CJK, None)
    reads back as a row SQLAlchemy wrote."""
    from app.db.direct import insert_many

    engine = get_engine()
    odd = {**bill_row("b2", "N2"), "patient_name": 'O\'Brien "\\ 张", ', "work_injury": None, "paid_total": 3}
    with transactions() as seen, engine.begin() as conn:
        insert_many(conn, BILL, [bill_row("b1", "N1"), odd])
        insert_many(conn, BILL, [])
    assert [s.split(maxsplit=1)[0] for tx in seen for s in tx if not s.startswith("BEGIN")] == ["INSERT"]
    with engine.begin() as conn:
        conn.execute(insert(BILL), [bill_row("b3", "N3"), {**odd, "id": "b4", "bill_no": "N4"}])
    with engine.connect() as conn:
        for mine, theirs in (("b1", "b3"), ("b2", "b4")):
            got = execute_one(conn, BY_ID, {"id": mine})._asdict()
            want = conn.execute(BY_ID, {"id": theirs}).one()._asdict()
            assert {k: v for k, v in got.items() if k not in ("id", "bill_no")} == {
                k: v for k, v in want.items() if k not in ("id", "bill_no")
            }
        assert str(execute_one(conn, BY_ID, {"id": "b2"}).paid_total) == "3.00"
    with pytest.raises(IntegrityError), engine.begin() as conn:
        insert_many(conn, BILL, [bill_row("b5", "N5"), bill_row("b1", "N1")])
    with engine.connect() as conn:
        assert execute_one(conn, BY_ID, {"id": "b5"}) is None  # rolled back with the failure


def test_insert_many_compiles_its_statement_once_per_table(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled statements are kept by statement object: an upload's insert is the same object
    every time, so a second and third upload compile nothing."""
    import app.db.direct as direct_module

    engine = get_engine()
    with engine.begin() as conn:
        direct_module.insert_many(conn, BILL, [bill_row("b1", "N1")])
    compiled: list[object] = []
    real = direct_module._compile

    def counting(conn: Any, statement: Any, keys: Any) -> Any:
        compiled.append(statement)
        return real(conn, statement, keys)

    monkeypatch.setattr(direct_module, "_compile", counting)
    with engine.begin() as conn:
        direct_module.insert_many(conn, BILL, [bill_row("b2", "N2"), bill_row("b3", "N3")])
        direct_module.insert_many(conn, BILL, [bill_row("b4", "N4")])
    assert compiled == []
    with engine.connect() as conn:
        assert [execute_one(conn, BY_ID, {"id": b}).bill_no for b in ("b2", "b3", "b4")] == ["N2", "N3", "N4"]
