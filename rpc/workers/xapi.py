"""The xAPI 1.0.3 statement rules a statement is checked against before it leaves for the LRS (`lms xapi
deliver`, rpc/workers/webhook_delivery.py). SQL makes the statements (internal.xapi_statement,
sql/functions/90_events/05_xapi.sql); this is the shape check the specification asks of a sender
(xAPI 1.0.3, Part Two §2.4): the properties a statement may have, an Agent identified by exactly one
inverse functional identifier, absolute IRIs for verbs and activities, language maps, a score within
its bounds, an ISO 8601 timestamp with its time zone."""

from __future__ import annotations

import datetime as dt
import re
import uuid

STATEMENT_PROPERTIES = {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority",
                        "version", "attachments"}
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


def _language_map(value, where: str) -> list[str]:
    if not isinstance(value, dict) or not value:
        return [f"{where} is a language map"]
    return [f"{where}: {k!r} is no language tag" for k, v in value.items()
            if not LANGUAGE_TAG.match(str(k)) or not isinstance(v, str)]


def _agent(actor, where: str) -> list[str]:
    if not isinstance(actor, dict) or actor.get("objectType", "Agent") != "Agent":
        return [f"{where} is an Agent"]
    ifis = [k for k in IFIS if k in actor]
    if len(ifis) != 1:
        return [f"{where} has exactly one inverse functional identifier, not {ifis}"]
    account = actor.get("account")
    if account is not None and not (isinstance(account, dict) and IRI.match(str(account.get("homePage", "")))
                                    and isinstance(account.get("name"), str) and account["name"]):
        return [f"{where}.account has an IRL homePage and a name"]
    return []


def _activity(activity, where: str) -> list[str]:
    if not isinstance(activity, dict) or activity.get("objectType", "Activity") != "Activity":
        return [f"{where} is an Activity"]
    problems = [] if IRI.match(str(activity.get("id", ""))) else [f"{where}.id is an absolute IRI"]
    definition = activity.get("definition")
    if definition is not None:
        if "type" in definition and not IRI.match(str(definition["type"])):
            problems.append(f"{where}.definition.type is an IRI")
        if "name" in definition:
            problems += _language_map(definition["name"], f"{where}.definition.name")
    return problems


def _result(result) -> list[str]:
    if not isinstance(result, dict):
        return ["result is an object"]
    problems = [f"result.{k} is a boolean" for k in ("success", "completion") if k in result
                and not isinstance(result[k], bool)]
    score = result.get("score")
    if score is not None:
        number = (int, float)
        scaled, raw, low, high = (score.get(k) for k in ("scaled", "raw", "min", "max"))
        if scaled is not None and not (isinstance(scaled, number) and -1 <= scaled <= 1):
            problems.append("result.score.scaled is between -1 and 1")
        if low is not None and high is not None and not low < high:
            problems.append("result.score.min is below max")
        if raw is not None and ((low is not None and raw < low) or (high is not None and raw > high)):
            problems.append("result.score.raw is between min and max")
    return problems


def statement_problems(statement: dict) -> list[str]:
    """What in the statement breaks the xAPI 1.0.3 rules (empty: none)."""
    if not isinstance(statement, dict):
        return ["a statement is a JSON object"]
    problems = [f"unknown property {k!r}" for k in statement if k not in STATEMENT_PROPERTIES]
    try:
        uuid.UUID(str(statement.get("id")))
    except ValueError:
        problems.append("id is a UUID")
    problems += _agent(statement.get("actor"), "actor")
    verb = statement.get("verb")
    if not isinstance(verb, dict) or not IRI.match(str(verb.get("id", ""))):
        problems.append("verb.id is an absolute IRI")
    elif "display" in verb:
        problems += _language_map(verb["display"], "verb.display")
    problems += _activity(statement.get("object"), "object")
    if "result" in statement:
        problems += _result(statement["result"])
    parents = ((statement.get("context") or {}).get("contextActivities") or {}).get("parent", [])
    for i, parent in enumerate(parents if isinstance(parents, list) else [parents]):
        problems += _activity(parent, f"context.contextActivities.parent[{i}]")
    try:
        stamp = dt.datetime.fromisoformat(str(statement.get("timestamp")).replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            problems.append("timestamp has a time zone")
    except ValueError:
        problems.append("timestamp is ISO 8601")
    return problems
