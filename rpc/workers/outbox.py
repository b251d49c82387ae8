"""`lms outbox`: deliver the messages queued in app.outbox.

Runs over the DATABASE_URL (DBA) connection, because the outbox body carries raw one-time
tokens and is readable only through the lms_definer functions internal.outbox_claim /
outbox_sent / outbox_failed. One message per transaction: it is claimed with
`for update skip locked` (two workers never get the same row) and marked sent or failed in the
same transaction, so nothing is delivered twice by concurrent workers and a failure is retried
later with back-off (the SQL decides the schedule).

Delivery: SMTP when LMS_SMTP_URL is set (smtp://user:pass@host:port, smtps://… for TLS,
?starttls=1 for STARTTLS), otherwise an .eml file per message in LMS_OUTBOX_DIR
(default .lms/outbox). The sender is the setting LMS_MAIL_FROM.
"""

from __future__ import annotations

import logging
import os
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

log = logging.getLogger("rpc.outbox")



def build_message(row: dict, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row["recipient"]
    msg["Subject"] = row["subject"]
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=f"outbox-{row['id']}")
    msg.set_content(row["body"])
    return msg


class FileTransport:
    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, row: dict, msg: EmailMessage) -> str:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"{row['id']:010d}.eml"
        tmp = path.with_suffix(".eml.tmp")
        tmp.unlink(missing_ok=True)  # a crash may have left one behind
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600 from the start
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(msg))
        tmp.replace(path)
        return str(path)


class SmtpTransport:
    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("LMS_SMTP_URL must start with smtp:// or smtps://")
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")

    def send(self, row: dict, msg: EmailMessage) -> str:
        cls = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        with cls(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)
        return f"smtp://{self.host}:{self.port}"


def transport_from(settings):
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url)
    folder = settings.outbox_dir or (Path(settings.home) / "outbox")
    return FileTransport(Path(folder))


def deliver(database_url: str, settings, limit: int = 1000, transport=None) -> dict:
    """Deliver up to `limit` due messages, one transaction each → {sent, failed}."""
    transport = transport or transport_from(settings)
    sender = settings.mail_from
    sent = failed = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(limit):
            with conn.transaction():
                cur = conn.execute(
                    "select id, recipient, subject, body, attempts from internal.outbox_claim(1)")
                rec = cur.fetchone()
                if rec is None:
                    break
                row = dict(zip([c.name for c in cur.description], rec, strict=True))
                try:
                    where = transport.send(row, build_message(row, sender))
                except Exception as exc:  # noqa: BLE001 — any transport failure is retried later
                    conn.execute("select internal.outbox_failed(%s, %s)", [row["id"], f"{type(exc).__name__}: {exc}"])
                    log.warning("outbox message %s to %s failed (attempt %s): %s",
                                row["id"], row["recipient"], row["attempts"] + 1, exc)
                    failed += 1
                else:
                    conn.execute("select internal.outbox_sent(%s)", [row["id"]])
                    log.info("outbox message %s to %s delivered: %s", row["id"], row["recipient"], where)
                    sent += 1
    return {"sent": sent, "failed": failed}
