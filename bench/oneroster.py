"""OneRoster import at district scale (issue 33 §2): a generated roster of U users (5 % teachers) and E
enrollments (one primary teacher per class of 50) imported by the real command (`lms oneroster import`,
its own process, on a throw-away cluster), then the same files again (0 changes), at two sizes so that
the command's peak memory can be compared (flat: the files are streamed).

    python -m bench.oneroster [--users 100000] [--enrollments 1000000]

Prints the wall time of each import, what it changed, and the importer's peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.common import bench_database

CLASS_SIZE = 50
STAMP = "2026-09-01T08:00:00.000Z"


def generate(folder: Path, users: int, enrollments: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    classes = max(1, enrollments // CLASS_SIZE)
    teachers = max(1, users // 20)
    students = users - teachers

    def writer(name: str, header: list[str]):
        handle = (folder / f"{name}.csv").open("w", encoding="utf-8", newline="")
        out = csv.writer(handle)
        out.writerow(header)
        return handle, out

    handle, out = writer("manifest", ["propertyName", "value"])
    out.writerows([["manifest.version", "1.0"], ["oneroster.version", "1.2"], ["file.orgs", "bulk"],
                   ["file.classes", "bulk"], ["file.users", "bulk"], ["file.enrollments", "bulk"]])
    handle.close()
    handle, out = writer("orgs", ["sourcedId", "status", "dateLastModified", "name", "type", "identifier",
                                  "parentSourcedId"])
    out.writerow(["district", "active", STAMP, "District", "district", "D", ""])
    handle.close()
    handle, out = writer("users", ["sourcedId", "status", "dateLastModified", "enabledUser", "username", "givenName",
                                   "familyName", "email", "role", "identifier"])
    for i in range(users):
        role = "teacher" if i < teachers else "student"
        out.writerow([f"u{i}", "active", STAMP, "true", f"user{i}", f"Given{i}", f"Family{i}",
                      f"user{i}@district.example", role, f"ID-{i}"])
    handle.close()
    handle, out = writer("classes", ["sourcedId", "status", "dateLastModified", "title", "courseSourcedId", "classCode",
                                     "classType", "schoolSourcedId", "termSourcedIds"])
    for c in range(classes):
        out.writerow([f"c{c}", "active", STAMP, f"Class {c}", f"crs{c % 200}", f"C-{c}", "scheduled", "district",
                      "fall"])
    handle.close()
    handle, out = writer("enrollments", ["sourcedId", "status", "dateLastModified", "classSourcedId",
                                         "schoolSourcedId", "userSourcedId", "role", "primary", "beginDate",
                                         "endDate"])
    n = 0
    for c in range(classes):
        out.writerow([f"e{n}", "active", STAMP, f"c{c}", "district", f"u{c % teachers}", "teacher", "true",
                      "2026-09-01", ""])
        n += 1
    seat = 0
    while n < enrollments:
        c, k = seat % classes, seat // classes  # the k-th student of class c: distinct within a class
        student = teachers + ((c * CLASS_SIZE + k) * 7919) % students
        out.writerow([f"e{n}", "active", STAMP, f"c{c}", "district", f"u{student}", "student", "false",
                      "2026-09-01", ""])
        n += 1
        seat += 1
    handle.close()


def run_import(url: str, folder: Path, home: Path) -> tuple[float, dict, int]:
    """(seconds, what changed, the importer's peak RSS in KiB)."""
    env = {**os.environ, "DATABASE_URL": url, "LMS_HOME": str(home)}
    lms = str(Path(sys.executable).with_name("lms"))
    script = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
              "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr); "
              "print('RSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, lms, "oneroster", "import", str(folder)], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr}")
    body, _, rss = done.stdout.rpartition("RSS ")
    return seconds, json.loads(body)["changes"], int(rss)


def changed(changes: dict) -> int:
    total = 0
    for value in changes.values():
        if isinstance(value, dict):
            total += sum(v for k, v in value.items() if k != "skipped")
    return total


def measure(users: int, enrollments: int, workdir: Path) -> None:
    folder = workdir / f"roster-{users}"
    started = time.perf_counter()
    generate(folder, users, enrollments)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    print(f"\nroster: {users:,} users, {enrollments:,} enrollments, {enrollments // CLASS_SIZE:,} classes "
          f"({size:.0f} MiB of CSV, generated in {time.perf_counter() - started:.1f} s)")
    with bench_database() as bench:
        with psycopg.connect(bench.url, autocommit=True) as conn:
            conn.execute("alter system set max_wal_size = '4GB'")
            conn.execute("select pg_reload_conf()")
        first = run_import(bench.url, folder, workdir / "home")
        again = run_import(bench.url, folder, workdir / "home")
        with psycopg.connect(bench.url) as conn:
            counts = conn.execute("select (select count(*) from app.users), (select count(*) from app.enrollments), "
                                  "(select count(*) from app.courses), (select count(*) from app.events)").fetchone()
    print(f"  first import:  {first[0]:6.1f} s, {changed(first[1]):,} changes, "
          f"importer peak RSS {first[2] / 1024:.0f} MiB")
    print(f"    {json.dumps(first[1])}")
    print(f"  same files:    {again[0]:6.1f} s, {changed(again[1]):,} changes, "
          f"importer peak RSS {again[2] / 1024:.0f} MiB")
    print(f"  database: {counts[0]:,} users, {counts[1]:,} enrollments, {counts[2]:,} courses, {counts[3]:,} events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lms-oneroster-") as tmp:
        workdir = Path(tmp)
        measure(max(1000, args.users // 10), max(10_000, args.enrollments // 10), workdir)
        measure(args.users, args.enrollments, workdir)


if __name__ == "__main__":
    main()
