"""OneRoster 1.2 CSV rostering (issue 33 §2), through the real command (`lms oneroster import|export`, its own
process, on the DBA's connection) against the test database: bulk then the same files again (nothing
changes), delta files (newer rows apply, stale ones do not), a bulk file that no longer lists someone,
a bad row (file, line and field in the error, nothing imported), two imports at once, and the export
read back."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import TEST_PASSWORD

MANIFEST = ["propertyName", "value"]
USERS = ["sourcedId", "status", "dateLastModified", "enabledUser", "username", "givenName", "familyName", "email",
         "role", "identifier"]
CLASSES = ["sourcedId", "status", "dateLastModified", "title", "courseSourcedId", "classCode", "classType",
           "schoolSourcedId", "termSourcedIds"]
ENROLLMENTS = ["sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId", "userSourcedId", "role",
               "primary", "beginDate", "endDate"]
LMS = str(Path(sys.executable).with_name("lms"))
T0, T1, T2 = "2026-09-01T08:00:00.000Z", "2026-10-01T08:00:00.000Z", "2026-08-01T08:00:00.000Z"


def write(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def manifest(folder: Path, **modes: str) -> None:
    write(folder, "manifest", MANIFEST, [["manifest.version", "1.0"], ["oneroster.version", "1.2"],
                                         *[[f"file.{name}", mode] for name, mode in modes.items()]])


def bulk_package(folder: Path, existing_email: str) -> Path:
    manifest(folder, orgs="bulk", academicSessions="bulk", courses="bulk", classes="bulk", users="bulk",
             enrollments="bulk", demographics="absent")
    write(folder, "orgs", ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"],
          [["org1", "active", T0, "Hill School", "school", "HS", ""]])
    write(folder, "academicSessions", ["sourcedId", "status", "dateLastModified", "title", "type", "startDate",
                                       "endDate", "parentSourcedId", "schoolYear"],
          [["term1", "active", T0, "Fall 2026", "term", "2026-09-01", "2026-12-20", "", "2027"]])
    write(folder, "courses", ["sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title", "courseCode",
                              "grades", "orgSourcedId", "subjects", "subjectCodes"],
          [["crs1", "active", T0, "", "Algebra I", "ALG1", "09", "org1", "Math", ""]])
    write(folder, "classes", CLASSES,
          [["cls1", "active", T0, "Algebra I — P1", "crs1", "ALG1-1", "scheduled", "org1", "term1"],
           ["cls2", "active", T0, "Algebra I — P2", "crs1", "ALG1-2", "scheduled", "org1", "term1"]])
    write(folder, "users", USERS,
          [["t1", "active", T0, "true", "tina", "Tina", "Teach", "tina@hill.example", "teacher", "T-1"],
           ["s1", "active", T0, "true", "sam", "Sam", "One", "sam@hill.example", "student", "S-1"],
           ["s2", "active", T0, "true", "sue", "Sue", "Two", "sue@hill.example", "student", "S-2"],
           ["s3", "", "", "", "sid", "Sid", "Three", existing_email, "student", "S-3"],
           ["g1", "active", T0, "true", "gus", "Gus", "Guardian", "", "guardian", ""]])
    write(folder, "enrollments", ENROLLMENTS,
          [["e1", "active", T0, "cls1", "org1", "t1", "teacher", "true", "2026-09-01", ""],
           ["e2", "active", T0, "cls1", "org1", "s1", "student", "false", "2026-09-01", ""],
           ["e3", "active", T0, "cls1", "org1", "s2", "student", "false", "2026-09-01", ""],
           ["e4", "active", T0, "cls2", "org1", "s3", "student", "false", "2026-09-01", ""],
           ["e5", "active", T0, "cls2", "org1", "s1", "student", "false", "2026-09-01", "2026-01-31"]])
    return folder


def lms(db, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db.url, "LMS_HOME": str(tmp_path / "home")}
    return subprocess.run([LMS, "oneroster", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def imported(db, tmp_path: Path, *args: str) -> dict:
    done = lms(db, tmp_path, "import", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["changes"]


def place(db, sourced_id: str) -> tuple:
    return tuple(db.execute(
        """select u.email, u.full_name, u.role, u.is_active from app.users u
           join app.oneroster_users o on o.user_id = u.id where o.sourced_id = %s""", [sourced_id])[0])


def enrolled(db, user: str, klass: str):
    rows = db.execute(
        """select en.is_active from app.enrollments en
           join app.oneroster_users u on u.user_id = en.user_id
           join app.oneroster_classes c on c.course_id = en.course_id
           where u.sourced_id = %s and c.sourced_id = %s""", [user, klass])
    return rows[0][0] if rows else None


async def test_bulk_again_delta_and_a_bulk_that_drops_someone(rpc, users, db, tmp_path):
    owner = await users.make("instructor")
    local = await users.make("student")
    package = bulk_package(tmp_path / "bulk", local.email)
    changes = imported(db, tmp_path, str(package), "--owner", owner.email)
    # s3's address is a local account's: linked, and renamed as the SIS names them.
    assert changes["users"] == {"linked": 1, "created": 3, "updated": 1, "deactivated": 0, "sis_rows_changed": 0,
                                "skipped": 1}
    assert changes["classes"]["created"] == 2 and changes["applied"]["enrolled"] == 3
    assert place(db, "t1") == ("tina@hill.example", "Tina Teach", "instructor", True)
    assert place(db, "s3")[0] == local.email  # the account that had this address is that person
    courses = dict(db.execute("""select o.sourced_id, u.email from app.oneroster_classes o
                                 join app.courses c on c.id = o.course_id
                                 join app.users u on u.id = c.instructor_id"""))
    assert courses == {"cls1": "tina@hill.example", "cls2": owner.email}  # no teacher: the owner's
    assert [enrolled(db, "s1", "cls1"), enrolled(db, "s2", "cls1"), enrolled(db, "s3", "cls2")] == [True] * 3
    assert enrolled(db, "s1", "cls2") is None  # that enrollment ended before today
    # New accounts have no password; the linked one keeps its own.
    login = await rpc.error("auth.login", {"email": "sam@hill.example", "password": TEST_PASSWORD})
    assert login["code"] == 401
    await rpc.ok("auth.login", {"email": local.email, "password": TEST_PASSWORD})
    assert db.execute("select count(*) from app.events where type = 'enrollment.created'")[0][0] == 3

    again = imported(db, tmp_path, str(package))
    assert again["users"] | {"skipped": 0} == dict.fromkeys(again["users"], 0)
    assert again["applied"] == {"enrolled": 0, "dropped": 0, "instructors_changed": 0}
    assert again["classes"] == {"created": 0, "renamed": 0, "sis_rows_changed": 0, "ended": 0}
    assert all(again[k]["changed"] == 0 for k in ("orgs", "academicSessions", "courses", "enrollments"))

    delta = tmp_path / "delta"
    manifest(delta, users="delta", enrollments="delta", classes="absent")
    write(delta, "users", USERS,
          [["s1", "active", T1, "true", "sam", "Samuel", "One", "sam@hill.example", "student", "S-1"],
           ["s2", "active", T2, "true", "sue", "Stale", "Name", "sue@hill.example", "student", ""]])
    write(delta, "enrollments", ENROLLMENTS,
          [["e3", "tobedeleted", T1, "cls1", "org1", "s2", "student", "false", "", ""]])
    changes = imported(db, tmp_path, str(delta))
    assert changes["users"]["updated"] == 1 and changes["applied"] == {"enrolled": 0, "dropped": 1,
                                                                     "instructors_changed": 0}
    assert place(db, "s1")[1] == "Samuel One" and place(db, "s2")[1] == "Sue Two"  # the stale row did not apply
    assert enrolled(db, "s2", "cls1") is False

    with (package / "users.csv").open() as f:
        rows = [r for r in csv.reader(f) if r[0] != "s3"]
    write(package, "users", rows[0], rows[1:])
    with (package / "enrollments.csv").open() as f:
        rows = [r for r in csv.reader(f) if r[5] != "s3"]
    write(package, "enrollments", rows[0], rows[1:])
    changes = imported(db, tmp_path, str(package))
    assert changes["users"]["deactivated"] == 1 and place(db, "s3")[3] is False
    assert changes["applied"]["dropped"] == 1 and enrolled(db, "s3", "cls2") is False
    assert changes["applied"]["enrolled"] == 1 and enrolled(db, "s2", "cls1") is True  # the bulk file has e3 again

    # Export: the same files, the imported rows under their sourcedIds; importing them back changes nothing.
    out = tmp_path / "export"
    done = lms(db, tmp_path, "export", str(out))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} >= {"manifest.csv", "orgs.csv", "academicSessions.csv", "courses.csv",
                                               "classes.csv", "users.csv", "enrollments.csv"}
    with (out / "users.csv").open() as f:
        exported = {r["sourcedId"]: r for r in csv.DictReader(f)}
    assert exported["s1"]["givenName"] == "Sam" and exported["t1"]["role"] == "teacher"
    assert exported[owner.id]["email"] == owner.email  # made here: under its id
    with (out / "classes.csv").open() as f:
        assert {r["sourcedId"]: r["title"] for r in csv.DictReader(f)}["cls1"] == "Algebra I — P1"
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as archive:
        for path in out.iterdir():
            archive.write(path, path.name)
    back = imported(db, tmp_path, str(tmp_path / "export.zip"))
    assert back["users"]["created"] == 0 and back["users"]["updated"] == 0
    assert back["applied"]["enrolled"] == 0 and back["applied"]["dropped"] == 0


async def test_a_bad_row_is_named_and_nothing_is_imported(rpc, users, db, tmp_path):
    owner = await users.make("instructor")
    local = await users.make("student")
    before = db.execute("select (select count(*) from app.users), (select count(*) from app.courses)")[0]
    cases = [
        ("enrollments", 4, lambda rows: rows[2].__setitem__(5, "nobody"),
         "enrollments.csv line 4, field userSourcedId"),
        ("users", 3, lambda rows: rows[1].__setitem__(7, "not-an-email"), "users.csv line 3, field email"),
        ("users", 2, lambda rows: rows[0].__setitem__(8, "wizard"), "users.csv line 2, field role"),
        ("users", 4, lambda rows: rows[2].__setitem__(0, "s1"),
         "users.csv line 4, field sourcedId: 's1' is also on line 3"),
        ("classes", 2, lambda rows: rows[0].__setitem__(2, "yesterday"), "classes.csv line 2, field dateLastModified"),
        ("users", 3, lambda rows: rows[1].pop(), "users.csv line 3: 9 cells, the header has 10"),
    ]
    for name, _, spoil, expected in cases:
        package = bulk_package(tmp_path / f"bad-{name}-{len(expected)}", local.email)
        with (package / f"{name}.csv").open() as f:
            header, *rows = list(csv.reader(f))
        spoil(rows)
        with (package / f"{name}.csv").open("w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
        done = lms(db, tmp_path, "import", str(package), "--owner", owner.email)
        assert done.returncode == 1 and expected in done.stderr, (expected, done.stderr)
        assert "nothing was imported" in done.stderr
    no_owner = lms(db, tmp_path, "import", str(bulk_package(tmp_path / "no-owner", local.email)))
    assert no_owner.returncode == 1 and "classes.csv line 3" in no_owner.stderr  # cls2 has no teacher
    after = db.execute("select (select count(*) from app.users), (select count(*) from app.courses)")[0]
    assert after == before
    assert db.execute("select count(*) from app.oneroster_users")[0][0] == 0
    assert db.execute("select count(*) from app.oneroster_stage")[0][0] == 0


async def test_two_imports_at_once_make_one_roster(rpc, users, db, tmp_path):
    owner = await users.make("instructor")
    local = await users.make("student")
    package = bulk_package(tmp_path / "bulk", local.email)
    env = {**os.environ, "DATABASE_URL": db.url, "LMS_HOME": str(tmp_path / "home")}
    command = [LMS, "oneroster", "import", str(package), "--owner", owner.email]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    created = sorted(json.loads(out)["changes"]["users"]["created"] for out, _ in results)
    assert created == [0, 3]  # the second waited for the first, then found everyone
    assert db.execute("select count(*) from app.oneroster_users")[0][0] == 4
    assert db.execute("select count(*) from app.enrollments en"
                      " join app.oneroster_classes c on c.course_id = en.course_id")[0][0] == 3
