"""LTI 1.3 launches (issue 31) against a real tool built on the tool-side library pylti1p3
(tests/helpers/lti_tool.py, on loopback). A browser-like client goes from lti.launch to the tool's
login initiation, to our authorization endpoint, and form-posts the id_token to the tool, which
validates it with its library (our JWKS, nonce, claims, deployment)."""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal as D
from html import unescape
from urllib.parse import urlencode, urljoin

import aiohttp
import jwt as pyjwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rpc.db import lti_keys
from tests.helpers.catalog import make_course
from tests.helpers.lti_tool import LtiTool

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


@pytest.fixture
async def tool(rpc, users):
    """A tool registered by an admin, configured with what the registration answered, serving."""
    t = LtiTool()
    admin = await users.make("admin")
    t.registered = await rpc.ok("lti.tool_register", t.registration(), admin.token)
    t.configure(t.registered)
    t.start()
    yield t
    t.stop()


async def linked_course(rpc, users, tool):
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    link = await rpc.ok("lti.link_create", {"course_id": course_id, "tool_id": tool.registered["tool_id"],
                                            "title": "Coding sandbox", "custom": {"level": "2"}}, ina.token)
    return ina, course_id, link


async def through_the_tool(launch: dict, tamper=None) -> tuple[int, dict | str]:
    """The browser: the tool's login initiation, our /lti/auth (optionally tampered with), the form post
    to the tool's launch page → (its status, its JSON or our refusal)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(launch["login_url"] + "?" + urlencode(launch["params"]), allow_redirects=False) as resp:
            assert resp.status in (302, 303), await resp.text()
            auth_url = resp.headers["Location"]
        if tamper:
            auth_url = tamper(auth_url)
        async with browser.get(auth_url, allow_redirects=False) as resp:
            page = await resp.text()
            if resp.status != 200:
                return resp.status, page
        action = unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
        fields = {unescape(k): unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page)}
        async with browser.post(urljoin(auth_url, action), data=fields, allow_redirects=False) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()


async def test_a_learner_and_an_instructor_launch_a_tool_from_a_module(rpc, users, db, tool):
    """Registration answers what the tool's admin needs; the tool's library validates our launch; the
    claims say who, in which course, from which link, in which role."""
    reg = tool.registered
    assert reg["issuer"] == rpc.base and reg["platform_jwks_url"] == rpc.base + "/lti/jwks"
    assert reg["auth_url"] == rpc.base + "/lti/auth" and reg["client_id"] and reg["deployment_id"]
    ina, course_id, link = await linked_course(rpc, users, tool)
    student = await users.make("student")
    refused = await rpc.error("lti.launch", {"link_id": link["link_id"]}, student.token)
    assert refused["data"]["reason"] == "not_enrolled"
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, student.token)

    launch = await rpc.ok("lti.launch", {"link_id": link["link_id"]}, student.token)
    assert launch["login_url"] == tool.base + "/login" and launch["params"]["iss"] == rpc.base
    status, answer = await through_the_tool(launch)
    assert status == 200, answer
    claims = answer["launch"]
    lti = "https://purl.imsglobal.org/spec/lti/claim/"
    assert claims["sub"] == student.id and claims["aud"] == reg["client_id"]
    assert claims[lti + "roles"] == [LEARNER] and answer["is_student"] and not answer["is_instructor"]
    assert claims[lti + "context"]["id"] == course_id
    assert claims[lti + "resource_link"] == {"id": link["link_id"], "title": "Coding sandbox"}
    assert claims[lti + "custom"] == {"level": "2"} and claims[lti + "deployment_id"] == reg["deployment_id"]

    status, answer = await through_the_tool(await rpc.ok("lti.launch", {"link_id": link["link_id"]}, ina.token))
    assert status == 200 and answer["launch"]["https://purl.imsglobal.org/spec/lti/claim/roles"] == [INSTRUCTOR]
    assert db.execute("select count(*) from app.audit_log where action = 'lti.launched'") == [(2,)]

    # In a module: locked with it for the learner (next week's), open to who manages the course.
    later = await rpc.ok("module.create", {"course_id": course_id, "title": "Next week",
                                           "unlock_after_days": 7}, ina.token)
    await rpc.ok("module.publish", {"module_id": later["id"]}, ina.token)
    locked = await rpc.ok("lti.link_create", {"course_id": course_id, "tool_id": tool.registered["tool_id"],
                                              "title": "Week 2 sandbox", "module_id": later["id"]}, ina.token)
    refused = await rpc.error("lti.launch", {"link_id": locked["link_id"]}, student.token)
    assert refused["data"]["reason"] == "module_locked", refused
    assert [(k["title"], k["locked"]) for k in await rpc.ok("lti.link_list", {"course_id": course_id}, student.token)] \
        == [("Coding sandbox", False), ("Week 2 sandbox", True)]
    status, answer = await through_the_tool(await rpc.ok("lti.launch", {"link_id": locked["link_id"]}, ina.token))
    assert status == 200, answer
    db.execute("update app.enrollments set enrolled_at = now() - interval '8 days' where user_id = %s", [student.id])
    status, answer = await through_the_tool(await rpc.ok("lti.launch", {"link_id": locked["link_id"]}, student.token))
    assert status == 200 and answer["launch"]["https://purl.imsglobal.org/spec/lti/claim/resource_link"]["title"] == \
        "Week 2 sandbox"


async def test_launches_that_must_not_be_signed(rpc, users, db, tool):
    """A replayed hint, an unregistered redirect_uri, another client, a launch older than 5 minutes, a
    wrong response_type: a clear 400 and nothing signed. A deployment the tool does not know, or a
    signature by a key not in our JWKS: the tool's library refuses."""
    ina, course_id, link = await linked_course(rpc, users, tool)

    async def launch():
        return await rpc.ok("lti.launch", {"link_id": link["link_id"]}, ina.token)

    first = await launch()
    assert (await through_the_tool(first))[0] == 200
    status, page = await through_the_tool(first)  # the same hint again (the tool makes a new nonce)
    assert status == 400 and '"invalid_launch"' in page
    cases = {
        "invalid_redirect_uri": lambda u: u.replace("redirect_uri=", "redirect_uri=http%3A%2F%2Fevil.example%2F&x="),
        "invalid_client": lambda u: u.replace("client_id=", "client_id=another-tool&x="),
        "invalid_request": lambda u: u.replace("response_type=id_token", "response_type=code"),
    }
    for reason, tamper in cases.items():
        status, page = await through_the_tool(await launch(), tamper)
        assert status == 400 and f'"{reason}"' in page, (reason, page)
    used = {}

    def keep_nonce(url):
        used["nonce"] = re.search(r"nonce=([^&]+)", url).group(1)
        return url

    assert (await through_the_tool(await launch(), keep_nonce))[0] == 200
    status, page = await through_the_tool(await launch(), lambda u: re.sub(r"nonce=[^&]+", "nonce=" + used["nonce"], u))
    assert status == 400 and '"invalid_request"' in page and "nonce" in page, page  # a nonce is used once
    stale = await launch()
    db.execute("update app.lti_launches set created_at = now() - interval '10 minutes', "
               "expires_at = now() - interval '5 minutes' where consumed_at is null")
    status, page = await through_the_tool(stale)
    assert status == 400 and '"invalid_launch"' in page

    tool.configure(tool.registered, deployment_ids=["another-deployment"])
    status, answer = await through_the_tool(await launch())
    assert status == 400 and "deployment" in answer["refused"].lower()
    tool.configure(tool.registered)

    # Keys rotate: a launch recorded before still verifies (the old key stays published a day) and the
    # next one is signed with the new key; a key the JWKS never published is refused by the tool.
    before = await launch()
    with psycopg.connect(db.url, autocommit=True) as conn:
        new_kid = lti_keys.rotate(conn)
    status, answer = await through_the_tool(before)
    assert status == 200, answer
    async with aiohttp.ClientSession() as client:
        async with client.get(rpc.base + "/lti/jwks") as resp:
            published = (await resp.json())["keys"]
    assert [k["kid"] for k in published][0] == new_kid and len(published) == 2
    assert all("d" not in k and k["kty"] == "RSA" for k in published)  # public halves only
    with psycopg.connect(db.url, autocommit=True) as conn:  # a key the platform never published signs
        kid, private, _public = lti_keys.new_key()
        conn.execute("update app.lti_platform_keys set private_jwk = %s where retired_at is null",
                     [psycopg.types.json.Jsonb(private)])
    status, answer = await through_the_tool(await launch())
    assert status == 400 and answer.get("refused"), answer


async def test_the_private_keys_are_only_the_signers(rpc, users, db, tool):
    with db.connect() as conn:
        conn.execute("set role lms_api")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select private_jwk from app.lti_platform_keys")


# ----------------------------------------------------------------------------------------- LTI Advantage services
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"


async def tool_call(method: str, url: str, **kw) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as client:
        async with client.request(method, url, **kw) as resp:
            return resp.status, await resp.json()


async def test_a_tool_posts_a_score_into_the_gradebook_and_reads_the_roster(rpc, users, db, tool):
    """The launch names the AGS line item of the link and the NRPS roster; the tool's own service clients
    (pylti1p3: token by signed client assertion, then the services) post a FullyGraded score, which is the
    learner's grade in that gradebook column, in the CSV and the course grade; an older score is refused;
    the tool makes a column of its own by tag; NRPS lists the course's members with their roles."""
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    link = await rpc.ok("lti.link_create", {"course_id": course_id, "tool_id": tool.registered["tool_id"],
                                            "title": "Coding sandbox",
                                            "line_item": {"score_maximum": 20, "label": "Sandbox exercises"}},
                        ina.token)
    assert link["line_item_id"]
    student, other = await users.make("student"), await users.make("student")
    for s in (student, other):
        await rpc.ok("enrollment.enroll", {"course_id": course_id}, s.token)
    status, answer = await through_the_tool(await rpc.ok("lti.launch", {"link_id": link["link_id"]}, student.token))
    assert status == 200, answer
    claims = answer["launch"]
    course_url = f"{rpc.base}/lti/courses/{course_id}"
    assert claims[AGS]["lineitem"] == f"{course_url}/lineitems/{link['line_item_id']}"
    assert claims[AGS]["lineitems"] == course_url + "/lineitems"
    assert claims[NRPS] == {"context_memberships_url": course_url + "/memberships", "service_versions": ["2.0"]}

    score = {"launch_id": answer["launch_id"], "user_id": student.id, "score": 8, "maximum": 10,
             "timestamp": "2026-12-01T10:00:00+00:00"}
    status, sent = await tool_call("POST", tool.base + "/score", json=score)
    assert status == 200, sent
    assert [i["label"] for i in sent["line_items"]] == ["Sandbox exercises"]
    book = await rpc.ok("gradebook.course", {"course_id": course_id}, ina.token)
    row = next(r for r in book if r["user_id"] == student.id)
    assert [(c["label"], c["points"], c["grade"], c["grading_progress"]) for c in row["lti_items"]] == \
        [("Sandbox exercises", 20, 16, "FullyGraded")]
    assert row["course_grade"]["percent"] == 80
    untouched = next(r for r in book if r["user_id"] == other.id)
    assert untouched["lti_items"][0]["grade"] is None and untouched["course_grade"]["percent"] is None
    mine = await rpc.ok("gradebook.mine", {"course_id": course_id}, student.token)
    assert mine["lti_items"][0]["grade"] == 16

    # An older score changes nothing (AGS: the timestamp rule); a later one replaces it.
    status, refused = await tool_call("POST", tool.base + "/score", json=score | {"score": 10,
                                      "timestamp": "2026-12-01T09:00:00+00:00"})
    assert status == 400 and "stale_score" in refused["refused"], refused
    status, _ = await tool_call("POST", tool.base + "/score", json=score | {"score": 9,
                                "timestamp": "2026-12-01T11:00:00+00:00"})
    assert status == 200
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{rpc.base}/export/courses/{course_id}/gradebook.csv",
                              headers={"Authorization": f"Bearer {ina.token}"}) as resp:
            csv_text = await resp.text()
    lti_rows = [line for line in csv_text.splitlines() if ",lti," in line and student.id in line]
    assert len(lti_rows) == 1 and ",18.00," in lti_rows[0] + ",", lti_rows

    # The tool's own column, found or made by tag; a Pending score is not a grade yet.
    status, sent = await tool_call("POST", tool.base + "/score", json=score | {
        "tag": "originality", "progress": "Pending", "timestamp": "2026-12-01T12:00:00+00:00"})
    assert status == 200, sent
    assert sorted(i["label"] for i in sent["line_items"]) == ["Sandbox exercises", "originality"]
    book = await rpc.ok("gradebook.course", {"course_id": course_id}, ina.token)
    row = next(r for r in book if r["user_id"] == student.id)
    assert {c["label"]: c["grade"] for c in row["lti_items"]} == {"Sandbox exercises": 18, "originality": None}

    status, members = await tool_call("GET", tool.base + "/roster", params={"launch_id": answer["launch_id"]})
    assert status == 200, members
    assert {(m["user_id"], tuple(m["roles"]), m["status"]) for m in members} == {
        (ina.id, (INSTRUCTOR,), "Active"), (student.id, (LEARNER,), "Active"), (other.id, (LEARNER,), "Active")}

    # The instructor moves the column into a weighted category; a learner lists the course's links.
    labs = await rpc.ok("grade.category_create", {"course_id": course_id, "name": "Labs", "weight_percent": 100},
                        ina.token)
    columns = await rpc.ok("lti.line_item_list", {"course_id": course_id}, ina.token)
    assert [(c["label"], c["link_id"]) for c in columns] == [("Sandbox exercises", link["link_id"]),
                                                              ("originality", None)]
    moved = await rpc.ok("lti.line_item_update", {"line_item_id": link["line_item_id"],
                                                   "grade_category_id": labs["id"], "points": 40}, ina.token)
    assert (moved["grade_category_id"], moved["points"]) == (labs["id"], 40)
    refused = await rpc.error("lti.line_item_update", {"line_item_id": link["line_item_id"], "points": 1},
                              student.token)
    assert refused["data"]["reason"] == "not_course_owner"
    mine = await rpc.ok("gradebook.mine", {"course_id": course_id}, student.token)
    assert mine["lti_items"][0]["grade"] == 36 and mine["course_grade"]["percent"] == 90  # 9/10 of 40 in Labs
    listed = await rpc.ok("lti.link_list", {"course_id": course_id}, student.token)
    assert [(k["title"], k["locked"]) for k in listed] == [("Coding sandbox", False)]

    events = db.execute("select type, user_id::text, data ->> 'grade' from app.events "
                        "where type like 'lti.%%' and course_id = %s order by seq", [course_id])
    assert [e[0] for e in events] == ["lti.launched", "lti.score_received", "lti.score_received", "lti.score_received"]
    assert events[1][1:] == (student.id, "16.00")


SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


async def token_for(rpc, tool, client_id: str, scope: str, key_pem: str | None = None, **claims) -> tuple[int, dict]:
    """POST /lti/token with a client assertion signed by the tool's key (or key_pem), claims overridden."""
    _, keys = await tool_call("GET", tool.base + "/jwks")
    now = int(time.time())
    assertion = claims.pop("assertion", None)
    body = {"iss": client_id, "sub": client_id, "aud": rpc.base + "/lti/token", "iat": now - 5, "exp": now + 60,
            "jti": str(uuid.uuid4())} | claims
    assertion = assertion or pyjwt.encode(body, key_pem or tool.private_pem, algorithm="RS256",
                                          headers={"kid": keys["keys"][0]["kid"]})
    form = {"grant_type": "client_credentials", "client_assertion": assertion, "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    status, answer = await tool_call("POST", rpc.base + "/lti/token", data=form)
    answer["assertion"] = assertion
    return status, answer


async def test_tokens_and_services_refuse_what_the_spec_refuses(rpc, users, db, tool):
    """The token endpoint (1EdTech Security Framework): a replayed jti, another audience, an expired
    assertion, a signature by a key the tool never published, sub not the client, an unknown client, a
    scope the tool is not registered with. The services: no token, an expired one, a missing scope, a
    learner not in the course, and a second tool linked in the same course sees none of the first tool's
    line items or results — row-level security on the tool, not a check in Python."""
    client_id = tool.registered["client_id"]
    status, first = await token_for(rpc, tool, client_id, f"{SCORE_SCOPE} {NRPS_SCOPE}")
    assert status == 200 and first["token_type"] == "Bearer" and first["expires_in"] == 3600, first
    assert sorted(first["scope"].split()) == sorted([SCORE_SCOPE, NRPS_SCOPE])
    status, replay = await token_for(rpc, tool, client_id, SCORE_SCOPE, assertion=first["assertion"])
    assert (status, replay["error"]) == (400, "invalid_grant"), replay
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    now = int(time.time())
    for case in ({"aud": "https://elsewhere.example/token"}, {"exp": now - 300, "iat": now - 400},
                 {"sub": "someone-else"}, {"key_pem": stranger}):
        status, refused = await token_for(rpc, tool, client_id, SCORE_SCOPE, **case)
        assert (status, refused["error"]) == (400, "invalid_grant"), (case, refused)
    status, refused = await token_for(rpc, tool, "no-such-client", SCORE_SCOPE)
    assert (status, refused["error"]) == (400, "invalid_client"), refused
    assert db.execute("select count(*) from app.lti_access_tokens") == [(1,)]  # only the first was granted

    admin = await users.make("admin")
    second = await rpc.ok("lti.tool_register", {"name": "Second tool", "client_id": "second-tool",
                                                 "login_url": tool.base + "/login", "launch_url": tool.base + "/launch",
                                                 "jwks_url": tool.base + "/jwks", "scopes": [LINEITEM_SCOPE]},
                          admin.token)
    status, refused = await token_for(rpc, tool, "second-tool", SCORE_SCOPE)
    assert (status, refused["error"]) == (400, "invalid_scope"), refused

    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    link = await rpc.ok("lti.link_create", {"course_id": course_id, "tool_id": tool.registered["tool_id"],
                                            "title": "Sandbox", "line_item": {"score_maximum": 10}}, ina.token)
    await rpc.ok("lti.link_create", {"course_id": course_id, "tool_id": second["tool_id"], "title": "Other"}, ina.token)
    student, outsider = await users.make("student"), await users.make("student")
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, student.token)
    items = f"{rpc.base}/lti/courses/{course_id}/lineitems"
    item = f"{items}/{link['line_item_id']}"

    def auth(token):
        return {"Authorization": f"Bearer {token}"}

    def score_of(user, at):
        return {"userId": user.id, "scoreGiven": 7, "scoreMaximum": 10, "activityProgress": "Completed",
                "gradingProgress": "FullyGraded", "timestamp": at}

    status, refused = await tool_call("GET", items)
    assert status == 401 and refused["error"]["data"]["reason"] == "token_invalid"
    status, refused = await tool_call("POST", item + "/scores", json=score_of(outsider, "2026-12-01T10:00:00Z"),
                                      headers=auth(first["access_token"]))
    assert status == 403 and refused["error"]["data"]["reason"] == "not_enrolled", refused
    status, kept = await tool_call("POST", item + "/scores", json=score_of(student, "2026-12-01T10:00:00Z"),
                                   headers=auth(first["access_token"]))
    assert status == 200, kept
    status, refused = await tool_call("GET", items, headers=auth(first["access_token"]))  # no lineitem scope asked
    assert status == 403 and refused["error"]["data"]["reason"] == "insufficient_scope", refused

    status, theirs = await token_for(rpc, tool, "second-tool", LINEITEM_SCOPE)
    assert status == 200, theirs
    status, listed = await tool_call("GET", items, headers=auth(theirs["access_token"]))
    assert (status, listed) == (200, [])  # the first tool's column is not theirs to see
    for method, kw in (("GET", {}), ("PUT", {"json": {"label": "Mine now", "scoreMaximum": 1}}), ("DELETE", {})):
        status, refused = await tool_call(method, item, headers=auth(theirs["access_token"]), **kw)
        assert status == 404 and refused["error"]["data"]["reason"] == "not_found", (method, refused)
    status, made = await tool_call("POST", items, json={"label": "Theirs", "scoreMaximum": 5},
                                   headers=auth(theirs["access_token"]))
    assert status == 201 and made["id"].startswith(items + "/"), made
    assert db.execute("select label, score_maximum from app.lti_line_items order by created_at") == \
        [("Sandbox", D("10.00")), ("Theirs", D("5.00"))]
    assert db.execute("select score_given from app.lti_results") == [(D("7.0000"),)]

    # The roster, a page at a time (Link: rel="next"); not in a course the tool has no link in.
    members_url = f"{rpc.base}/lti/courses/{course_id}/memberships"
    async with aiohttp.ClientSession() as client:
        async with client.get(members_url + "?limit=1", headers=auth(first["access_token"])) as resp:
            page = await resp.json()
            assert resp.status == 200
            assert resp.content_type == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
            assert [m["user_id"] for m in page["members"]] == [ina.id] and 'rel="next"' in resp.headers["Link"]
            following = re.match(r"<([^>]+)>", resp.headers["Link"]).group(1)
        async with client.get(following, headers=auth(first["access_token"])) as resp:
            assert [m["user_id"] for m in (await resp.json())["members"]] == [student.id]
    elsewhere, _ = await make_course(rpc, ina, lessons=1)
    status, refused = await tool_call("GET", f"{rpc.base}/lti/courses/{elsewhere}/memberships",
                                      headers=auth(first["access_token"]))
    assert status == 404, refused
    db.execute("update app.lti_access_tokens set created_at = now() - interval '2 hours', "
               "expires_at = now() - interval '1 hour'")
    status, refused = await tool_call("GET", members_url, headers=auth(first["access_token"]))
    assert status == 401 and refused["error"]["data"]["reason"] == "token_invalid"


async def test_deep_linking_adds_the_links_the_tool_returns(rpc, users, db, tool):
    """lti.deep_link → the tool (its library answers with a signed LtiDeepLinkingResponse) → POST
    /lti/deep-link creates the chosen links in the module, one with its gradebook column; the same
    response again, or a tampered one, is refused; only who manages the course may start one."""
    ina = await users.make("instructor")
    course_id, _ = await make_course(rpc, ina, lessons=1)
    module = await rpc.ok("module.create", {"course_id": course_id, "title": "Week 1"}, ina.token)
    student = await users.make("student")
    await rpc.ok("enrollment.enroll", {"course_id": course_id}, student.token)
    asked = {"tool_id": tool.registered["tool_id"], "course_id": course_id, "module_id": module["id"]}
    refused = await rpc.error("lti.deep_link", asked, student.token)
    assert refused["data"]["reason"] == "not_course_owner"
    tool.deep_link_items = [{"title": "Graph exercise", "url": tool.base + "/launch", "points": 5},
                            {"title": "Reading", "url": tool.base + "/launch"}]
    status, page = await through_the_tool(await rpc.ok("lti.deep_link", asked, ina.token))
    assert status == 200 and "lti13_deep_link_auto_submit" in page, page
    action = unescape(re.search(r'action="([^"]+)"', page).group(1))
    response = re.search(r'name="JWT" value="([^"]+)"', page).group(1)
    assert action == rpc.base + "/lti/deep-link"
    head, body, signature = response.split(".")
    tampered = ".".join([head, body, signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")])
    status, refused = await tool_call("POST", action, data={"JWT": tampered})
    assert status == 400 and refused["error"]["data"]["reason"] == "invalid_deep_link", refused
    status, created = await tool_call("POST", action, data={"JWT": response})
    assert status == 200, created
    assert [(k["title"], k["module_id"], k["line_item_id"] is not None) for k in created["links"]] == \
        [("Graph exercise", module["id"], True), ("Reading", module["id"], False)]
    status, refused = await tool_call("POST", action, data={"JWT": response})
    assert status == 400 and refused["error"]["data"]["reason"] == "invalid_deep_link", refused
    assert db.execute("select count(*) from app.lti_links where course_id = %s", [course_id]) == [(2,)]

    status, answer = await through_the_tool(
        await rpc.ok("lti.launch", {"link_id": created["links"][0]["link_id"]}, ina.token))
    assert status == 200, answer
    assert answer["launch"][AGS]["lineitem"].endswith("/lineitems/" + created["links"][0]["line_item_id"])
    book = await rpc.ok("gradebook.course", {"course_id": course_id}, ina.token)
    assert [(c["label"], c["points"]) for c in book[0]["lti_items"]] == [("Graph exercise", 5)]
    gone = await rpc.ok("lti.link_delete", {"link_id": created["links"][0]["link_id"]}, ina.token)
    assert gone["deleted"] and await rpc.ok("lti.line_item_list", {"course_id": course_id}, ina.token) == []
