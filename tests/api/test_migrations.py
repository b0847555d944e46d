"""Migrations: applied once each, in order, atomically, never edited."""
import pathlib
import shutil
import subprocess
import tempfile

import psycopg
import pytest

from conftest import DEMO_ORG, ROOT


@pytest.fixture
def scratch(stack):
    """A fresh database owned by crm_owner, and a copy of sql/."""
    name = "scratch_migrations"
    stack.sql(f"DROP DATABASE IF EXISTS {name}")
    stack.sql(f"CREATE DATABASE {name} OWNER crm_owner")
    with psycopg.connect(stack.dsn(dbname=name), autocommit=True) as c:
        c.execute("ALTER SCHEMA public OWNER TO crm_owner")
    d = pathlib.Path(tempfile.mkdtemp())
    shutil.copytree(ROOT / "sql", d / "sql")
    yield name, d / "sql"
    shutil.rmtree(d)
    stack.sql(f"DROP DATABASE IF EXISTS {name}")


def migrate(stack, db, sqldir):
    conninfo = f"host=127.0.0.1 port={stack.pg_port} dbname={db} user=crm_owner"
    return subprocess.run([str(ROOT / ".dev" / "migrate"), conninfo,
                           str(sqldir)], capture_output=True, text=True)


def query(stack, db, q):
    with psycopg.connect(stack.dsn(dbname=db)) as c:
        return c.execute(q).fetchall()


def test_apply_once_then_nothing(stack, scratch):
    db, sqldir = scratch
    first = migrate(stack, db, sqldir)
    assert first.returncode == 0, first.stderr
    count = len(list(sqldir.glob("[0-9][0-9][0-9][0-9]_*.sql")))
    assert f"{count} applied" in first.stderr
    again = migrate(stack, db, sqldir)
    assert again.returncode == 0 and "0 applied" in again.stderr
    rows = query(stack, db, "SELECT version FROM schema_migrations ORDER BY 1")
    assert len(rows) == count


def test_failed_migration_leaves_database_as_it_was(stack, scratch):
    db, sqldir = scratch
    assert migrate(stack, db, sqldir).returncode == 0
    (sqldir / "0999_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\n"
        "INSERT INTO half_done VALUES (1);\n"
        "SELECT 1/0;\n")
    r = migrate(stack, db, sqldir)
    assert r.returncode != 0
    assert query(stack, db, "SELECT to_regclass('half_done')") == [(None,)]
    assert query(stack, db, "SELECT count(*) FROM schema_migrations "
                 "WHERE version = 999") == [(0,)]


def test_edited_migration_is_refused(stack, scratch):
    db, sqldir = scratch
    assert migrate(stack, db, sqldir).returncode == 0
    first = sorted(sqldir.glob("0001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    r = migrate(stack, db, sqldir)
    assert r.returncode != 0 and "changed after it was applied" in r.stderr


def test_demo_data_loaded(stack):
    roles = stack.sql("SELECT role, count(*) FROM users WHERE id::text LIKE "
                      "'00000000-0000-4000-8000-0000000001%' GROUP BY 1")
    assert dict(roles) == {"admin": 1, "executive": 1, "marketing": 1,
                           "sales_manager": 1, "sales_rep": 2, "service": 1}
    reps = stack.sql("SELECT r.email FROM users r JOIN users m "
                     "ON r.manager_id = m.id WHERE m.role = 'sales_manager' "
                     "AND m.org_id = %s ORDER BY 1", (DEMO_ORG,))
    assert [e for (e,) in reps] == ["rep1@example.com", "rep2@example.com"]
    names = [n for (n,) in stack.sql("SELECT name FROM customers")]
    assert "四川糖酒有限公司" in names
    pw = stack.sql("SELECT password_hash FROM users "
                   "WHERE email = 'admin@example.com'")[0][0]
    assert pw.startswith("scrypt$16384$8$1$") and "demo" not in pw
