"""`lms oneroster import DIR|ZIP` and `lms oneroster export DIR`: OneRoster 1.2 CSV rostering (issue 33 §2).

Import, in ONE transaction on the DBA's connection (DATABASE_URL, else the embedded cluster):
1. each file of the package (manifest, orgs, academicSessions, courses, classes, users, enrollments;
   other OneRoster files are named and skipped) is read as a stream — a directory's files or a zip's
   members, never extracted — and COPYed row by row into a temporary table (file, line, the cells in
   the header's order; the header is line 1). This module checks only shapes: a header without
   duplicates, as many cells in each row as the header has, no NUL. Memory stays flat however large
   the roster;
2. internal.oneroster_merge (sql/functions/55_rostering.sql) checks every row (the first bad one is
   the error: file, line, field) and merges set-based → what changed, printed as JSON.
Any error rolls everything back: nothing is half-imported.

Export: the same files, written by COPY … TO STDOUT from internal.oneroster_export_* (the imported
rows as they came; what was made here under its id).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

FILES = ("manifest", "orgs", "academicSessions", "courses", "classes", "users", "enrollments")
KNOWN_ELSEWHERE = ("demographics", "roles", "userProfiles", "lineItems", "results", "categories", "resources",
                   "classResources", "courseResources", "scoreScales", "lineItemLearningObjectiveIds",
                   "lineItemScoreScales", "resultLearningObjectiveIds", "resultScoreScales")
REF_COLUMNS = {
    "orgs": ["name", "type", "identifier", "parentSourcedId"],
    "academicSessions": ["title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"],
    "courses": ["schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId", "subjects", "subjectCodes"],
}
EXPORTS = {"users": "internal.oneroster_export_users", "classes": "internal.oneroster_export_classes",
           "enrollments": "internal.oneroster_export_enrollments"}
UPLOAD = "create temporary table oneroster_upload (file text, line integer, cells text[]) on commit drop"
MAX_CELL = 10_000


class PackageError(Exception):
    """A file of the package is not CSV as OneRoster writes it (the message says where)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("oneroster", help="import|export OneRoster 1.2 CSV rosters (users, classes, enrollments)")
    p.add_argument("action", choices=["import", "export"])
    p.add_argument("path", help="import: a directory or .zip of OneRoster CSV files; export: a directory to write")
    p.add_argument("--owner", default=None,
                   help="import: the email of the instructor who gets classes that have no teacher")
    p.set_defaults(func=run)


@contextlib.contextmanager
def opened(source: Path) -> Iterator[dict[str, io.TextIOBase]]:
    """The package's CSV files by name (without .csv) as text streams."""
    with contextlib.ExitStack() as stack:
        if source.is_dir():
            found = {path.stem: stack.enter_context(path.open(encoding="utf-8-sig", newline=""))
                     for path in sorted(source.glob("*.csv"))}
        else:
            try:
                archive = stack.enter_context(zipfile.ZipFile(source))
            except (zipfile.BadZipFile, OSError) as exc:
                raise PackageError(f"{source}: neither a directory nor a zip archive ({exc})") from None
            found = {}
            for info in archive.infolist():
                name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
                if name.endswith(".csv") and not info.is_dir():
                    member = stack.enter_context(archive.open(info))
                    found[name[:-4]] = stack.enter_context(io.TextIOWrapper(member, encoding="utf-8-sig", newline=""))
        yield found


def stage(cur: psycopg.Cursor, name: str, stream: io.TextIOBase) -> int:
    """COPY one file into oneroster_upload → its number of data rows."""
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise PackageError(f"{name}.csv: empty (a OneRoster file has at least its header)") from None
    except csv.Error as exc:
        raise PackageError(f"{name}.csv line 1: {exc}") from None
    header = [cell.strip() for cell in header]
    if not header or "" in header or len(set(header)) != len(header):
        raise PackageError(f"{name}.csv line 1: the header needs distinct, non-blank column names")
    rows = 0
    with cur.copy("copy oneroster_upload (file, line, cells) from stdin") as copy:
        copy.set_types(["text", "int4", "text[]"])
        copy.write_row((name, 1, header))
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise PackageError(f"{name}.csv line {line}: {len(row)} cells, the header has {len(header)}")
                for cell, column in zip(row, header, strict=True):
                    if "\x00" in cell or len(cell) > MAX_CELL:
                        raise PackageError(f"{name}.csv line {line}, field {column}: a NUL character or more than"
                                           f" {MAX_CELL} characters")
                copy.write_row((name, line, row))
                rows += 1
        except csv.Error as exc:
            raise PackageError(f"{name}.csv line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise PackageError(f"{name}.csv: not UTF-8") from None
    return rows


def import_package(url: str, source: Path, owner: str | None) -> dict:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(UPLOAD)
        cur.execute("grant select on oneroster_upload to lms_definer")
        staged, skipped = {}, []
        with opened(source) as files:
            if "manifest" not in files:
                raise PackageError(f"{source}: no manifest.csv")
            for name, stream in files.items():
                if name in FILES:
                    staged[name] = stage(cur, name, stream)
                else:
                    skipped.append(name)
        (counts,) = cur.execute("select internal.oneroster_merge(%s)", [owner]).fetchone()
        conn.commit()
    return {"rows": staged, "files_not_imported": sorted(skipped), "changes": counts}


def copy_out(cur: psycopg.Cursor, query: sql.Composable, path: Path) -> None:
    statement = sql.SQL("copy ({}) to stdout with (format csv, header)").format(query)
    with path.open("wb") as out, cur.copy(statement) as copy:
        for chunk in copy:
            out.write(chunk)


def export_package(url: str, target: Path) -> list[str]:
    target.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for kind, columns in REF_COLUMNS.items():
            names = ["sourcedId", "status", "dateLastModified", *columns]
            cells = sql.SQL(", ").join(sql.SQL("r[{}] as {}").format(sql.Literal(i), sql.Identifier(name))
                                       for i, name in enumerate(names, 1))
            copy_out(cur, sql.SQL("select {} from internal.oneroster_export_refs({}, {}) r").format(
                cells, sql.Literal(kind), sql.Literal(columns)), target / f"{kind}.csv")
        for name, function in EXPORTS.items():
            copy_out(cur, sql.SQL("select * from {}()").format(sql.SQL(function)), target / f"{name}.csv")
    written = [*REF_COLUMNS, *EXPORTS]
    with (target / "manifest.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["propertyName", "value"])
        writer.writerows([["manifest.version", "1.0"], ["oneroster.version", "1.2"], ["source.systemName", "lms"]])
        writer.writerows([[f"file.{name}", "bulk" if name in written else "absent"]
                          for name in (*written, *KNOWN_ELSEWHERE)])
    return ["manifest", *written]


def run(args: argparse.Namespace, settings) -> int:
    from rpc.db.cluster import database_url

    url = database_url(settings)
    try:
        if args.action == "import":
            print(json.dumps(import_package(url, Path(args.path), args.owner), indent=2))
        else:
            names = export_package(url, Path(args.path))
            print(f"wrote {', '.join(n + '.csv' for n in names)} to {args.path}")
    except (PackageError, OSError) as exc:
        print(f"error: {exc}; nothing was imported" if args.action == "import" else f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        message = exc.diag.message_primary if exc.diag and exc.diag.message_primary else str(exc)
        print(f"error: {message}; nothing was imported" if args.action == "import" else f"error: {message}",
              file=sys.stderr)
        return 1
    return 0


__all__ = ["add_parser", "import_package", "export_package", "PackageError"]
