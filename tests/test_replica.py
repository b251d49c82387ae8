"""A read replica for analysts (issue 21, section 4): a primary and a streaming standby started
locally (`pg_basebackup -R`, the standby on a port and socket of its own); analysts made with
`lms analyst grant` on the primary see on the standby exactly the rows they see on the primary,
relation by relation (RLS policies and the analyst mapping are replicated data; the analyst's
identity comes from the login), and the analyst path writes nothing. Replication lag is reported
(`pg_stat_replication`, LSN difference, time to replay)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from rpc.cli.main import build_parser
from rpc.core.config import Settings
from rpc.db.cluster import Cluster, find_bindir, free_port
from rpc.db.demo import seed
from tests.helpers.faults import make_world, own_cluster

ANALYST_PASSWORD = "analyst-password-2026"


def start_standby(primary: Cluster, root: Path) -> Cluster:
    """A hot standby of `primary` in root: base backup with -R (standby.signal + primary_conninfo),
    streaming its WAL; its own socket directory and port."""
    standby = Cluster(root, durable=False)
    root.mkdir(mode=0o700)
    standby.socket_dir.mkdir(mode=0o700)
    (root / "port").write_text(str(free_port()))
    standby._chown(root)
    standby._cmd([str(find_bindir() / "pg_basebackup"), "-D", str(standby.data), "-R", "-X", "stream",
                  "-c", "fast", "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", "postgres"])
    with (standby.data / "postgresql.conf").open("a") as f:  # the copy names the primary's socket directory
        f.write(f"\n# standby\nunix_socket_directories = '{standby.socket_dir}'\n")
    standby.start()
    return standby


def wait_for_replay(primary_url: str, standby_url: str, limit: float = 30.0) -> tuple[str, float]:
    """Wait until the standby has replayed everything the primary has written so far → (LSN, seconds)."""
    with psycopg.connect(primary_url, autocommit=True) as p:
        (lsn,) = p.execute("select pg_current_wal_lsn()::text").fetchone()
    started = time.monotonic()
    with psycopg.connect(standby_url, autocommit=True) as s:
        while not s.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
            assert time.monotonic() - started < limit, "the standby did not catch up"
            time.sleep(0.01)
    return lsn, time.monotonic() - started


def readable_relations(conn: psycopg.Connection) -> list[tuple[str, str, list[str]]]:
    """Every table and view of app and analytics with the columns lms_analyst may select."""
    rows = conn.execute("""
        select n.nspname, c.relname, array_agg(a.attname order by a.attnum)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname in ('app', 'analytics') and c.relkind in ('r', 'p', 'v', 'm')
          and has_column_privilege('lms_analyst', c.oid, a.attnum, 'SELECT')
        group by 1, 2 order by 1, 2""").fetchall()
    return [(schema, name, list(columns)) for schema, name, columns in rows]


def snapshot(url: str, relations) -> dict[str, list[str]]:
    """relation → its rows as JSON text, sorted (what this login sees)."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for schema, name, columns in relations:
            query = sql.SQL("select to_jsonb(t)::text from (select {} from {}.{}) t").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema), sql.Identifier(name))
            out[f"{schema}.{name}"] = sorted(r[0] for r in conn.execute(query))
    return out


def grant_analyst(url: str, login: str, email: str, monkeypatch, capsys) -> tuple[int, str]:
    """`lms analyst grant LOGIN --user EMAIL` (the password on stdin), run in this process → (exit code, stderr)."""
    args = build_parser().parse_args(["analyst", "grant", login, "--user", email])
    monkeypatch.setattr("sys.stdin", io.StringIO(ANALYST_PASSWORD + "\n"))
    code = args.func(args, Settings(_env_file=None, database_url=url))
    return code, capsys.readouterr().err


def test_analysts_on_a_streaming_replica_see_what_rls_allows_on_the_primary(monkeypatch, capsys):
    with own_cluster() as primary:
        url = primary.url()
        seed(url)
        world = make_world(url, students=4, free_courses=3)
        with psycopg.connect(url, autocommit=True) as conn:
            # Some activity: lessons completed, attempts, in several users' names.
            conn.execute("insert into app.lesson_progress (enrollment_id, lesson_id, user_id)"
                         " select e.id, l.id, e.user_id from app.enrollments e join app.lessons l"
                         " on l.course_id = e.course_id")
            conn.execute("insert into app.quiz_attempt_counters (user_id, quiz_id, attempts_used)"
                         " select u, %s, 1 from unnest(%s::uuid[]) u", [world.quiz, world.students])
            conn.execute("insert into app.quiz_attempts (user_id, quiz_id, attempt_number, status, submitted_at,"
                         " score, passed, points_earned, points_total, answers, grading)"
                         " select u, %s, 1, 'submitted', now(), 100, true, 1, 1, '{}', '{}'"
                         " from unnest(%s::uuid[]) u", [world.quiz, world.students])
            emails = dict(conn.execute("select id::text, email from app.users where id = any(%s::uuid[])",
                                       [[world.students[0], world.instructor]]).fetchall())
            (admin_email,) = conn.execute("select email from app.users where role = 'admin' limit 1").fetchone()
        tag = os.urandom(3).hex()
        logins = {"student": (f"ana_student_{tag}", emails[world.students[0]], world.students[0]),
                  "instructor": (f"ana_teacher_{tag}", emails[world.instructor], world.instructor),
                  "admin": (f"ana_admin_{tag}", admin_email, None)}
        for login, email, _ in logins.values():
            code, err = grant_analyst(url, login, email, monkeypatch, capsys)
            assert code == 0, err

        standby = start_standby(primary, Path(str(primary.root) + "-standby"))
        try:
            with psycopg.connect(standby.url(), autocommit=True) as s:
                assert s.execute("select pg_is_in_recovery()").fetchone() == (True,)
            lsn, caught_up = wait_for_replay(url, standby.url())

            relations = readable_relations(psycopg.connect(url, autocommit=True))
            assert len(relations) > 20 and any(name == "course_stats" for _, name, _ in relations), relations
            everything = snapshot(url, relations)  # as superuser: every row
            seen = {}
            for kind, (login, _, user_id) in logins.items():
                on_primary = snapshot(primary.url("lms", login), relations)
                on_standby = snapshot(standby.url("lms", login), relations)
                differ = [r for r in relations if on_primary[f"{r[0]}.{r[1]}"] != on_standby[f"{r[0]}.{r[1]}"]]
                assert not differ, (kind, differ)
                seen[kind] = sum(len(v) for v in on_standby.values())
                with psycopg.connect(standby.url("lms", login), autocommit=True) as conn:
                    # Identity from the login, on the standby too; a setting gains nothing; read-only everywhere.
                    conn.execute("select set_config('lms.user_id', %s, false)", [world.students[1]])
                    if user_id:
                        assert conn.execute("select app.current_user_id()::text").fetchone() == (user_id,)
                    assert conn.execute("show transaction_read_only").fetchone() == ("on",)
                    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # no temporary tables on a standby
                        conn.execute("create temporary table scratch (n integer)")
            # RLS is really at work on the standby: the student sees less than the instructor, who sees
            # less than the admin; the admin's link sees every enrollment, as the superuser does.
            total = sum(len(v) for v in everything.values())
            assert seen["student"] < seen["instructor"] < seen["admin"], (seen, total)
            admin_view = snapshot(standby.url("lms", logins["admin"][0]), relations)
            assert admin_view["app.enrollments"] == everything["app.enrollments"]
            student_view = snapshot(standby.url("lms", logins["student"][0]), relations)
            assert len(student_view["app.enrollments"]) == 1 < len(everything["app.enrollments"])

            # What a standby refuses: any write — a new analyst login, the RPC server's calls.
            code, err = grant_analyst(standby.url(), f"ana_nope_{tag}", admin_email, monkeypatch, capsys)
            assert code == 1 and "read-only transaction" in err, err
            with psycopg.connect(standby.url(), autocommit=True) as conn:
                with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                    conn.execute("select internal.rate_take('address:127.0.0.1', 1)")

            # Lag: a bulk write of ~10 MB of WAL on the primary, then the time until the standby replayed it.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("create table public.lag_probe as select g, md5(g::text) as h"
                             " from generate_series(1, 100000) g")
                (sent,) = conn.execute("select pg_current_wal_lsn()::text").fetchone()
                rows = conn.execute("select state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
                                    " replay_lag::text from pg_stat_replication").fetchall()
            _, bulk = wait_for_replay(url, standby.url())
            with psycopg.connect(url, autocommit=True) as conn:
                (wal,) = conn.execute("select pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)::bigint", [sent, lsn]).fetchone()
                after = conn.execute("select pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
                                     " write_lag::text, flush_lag::text, replay_lag::text"
                                     " from pg_stat_replication").fetchone()
                conn.execute("drop table public.lag_probe")
            assert rows and rows[0][0] == "streaming", rows
            print(f"replica: {len(relations)} relations compared for 3 analysts (student / instructor / admin "
                  f"links: {seen['student']} / {seen['instructor']} / {seen['admin']} rows, superuser {total}): "
                  f"identical on primary and standby (replayed {caught_up * 1000:.0f} ms after the first query); "
                  f"a {wal / 1e6:.1f} MB WAL burst: {rows[0][1] / 1e6:.1f} MB behind right after it "
                  f"(pg_stat_replication), replayed in {bulk * 1000:.0f} ms; afterwards {after[0]} bytes behind, "
                  f"write/flush/replay lag {after[1]} / {after[2]} / {after[3]}")
        finally:
            standby.stop("immediate")
            for login, _, _ in logins.values():
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("delete from app.analyst_logins where login_name = %s", [login])
                    conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(login)))
