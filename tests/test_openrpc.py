"""rpc.discover validates against the published OpenRPC meta-schema (npm @open-rpc/meta-schema,
with @json-schema-tools/meta-schema registered for its $refs), checked by the `jsonschema`
package — validators no one on this project wrote. `make test` / .ci/run install the npm
packages into .cache/npm."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from rpc.db.migrate import ROOT

WRITE_DOCUMENT = ("const m = require(process.argv[1]); "
                  "process.stdout.write(JSON.stringify(m.openrpcDocument || m.default))")
NPM = Path(os.environ.get("LMS_NPM_DIR", ROOT / ".cache" / "npm")) / "node_modules"


def meta_schemas() -> tuple[dict, dict]:
    assert (NPM / "@open-rpc" / "meta-schema").is_dir(), (
        f"{NPM} lacks the OpenRPC meta-schema: npm install --prefix .cache/npm "
        "@open-rpc/meta-schema@1.14.9 @json-schema-tools/meta-schema@1.8.0 (make test does it)")
    node = shutil.which("node")
    assert node, "node is needed to read the meta-schema package"
    out = subprocess.run(
        [node, "-e", WRITE_DOCUMENT, str(NPM / "@open-rpc" / "meta-schema")],
        capture_output=True, text=True, check=True)
    openrpc = json.loads(out.stdout)
    json_schema_meta = json.loads((NPM / "@json-schema-tools" / "meta-schema" / "schema.json").read_text())
    return openrpc, json_schema_meta


async def test_discover_document_validates_against_the_openrpc_meta_schema(rpc):
    openrpc_meta, json_schema_meta = meta_schemas()
    resource = Resource.from_contents(json_schema_meta, default_specification=DRAFT7)
    registry = Registry().with_resources([("https://meta.json-schema.tools", resource),
                                          ("https://meta.json-schema.tools/", resource)])
    doc = await rpc.ok("rpc.discover")
    validator = Draft7Validator(openrpc_meta, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: e.path)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    assert doc["servers"][0]["url"].startswith("http://127.0.0.1:"), "an absolute URL, as the client reached us"
    assert len(doc["methods"]) > 1, "every api function is described"
    for method in doc["methods"]:
        for param in method["params"]:
            Draft7Validator.check_schema(param["schema"])
        Draft7Validator.check_schema(method["result"]["schema"])


async def test_the_socket_only_methods_are_in_the_document_and_answer_on_its_url(rpc, users):
    """event.subscribe, event.unsubscribe and auth (with each alias) exist only on GET /ws: they are in
    rpc.discover's `x-websocket` extension as OpenRPC method objects, at a URL that answers them."""
    import aiohttp

    openrpc_meta, json_schema_meta = meta_schemas()
    resource = Resource.from_contents(json_schema_meta, default_specification=DRAFT7)
    registry = Registry().with_resources([("https://meta.json-schema.tools", resource),
                                          ("https://meta.json-schema.tools/", resource)])
    method_schema = {**openrpc_meta, "$ref": "#/definitions/methodObject"}
    doc = await rpc.ok("rpc.discover")
    socket = doc["x-websocket"]
    assert socket["url"] == rpc.base.replace("http://", "ws://") + "/ws"
    validator = Draft7Validator(method_schema, registry=registry)
    for method in socket["methods"]:
        errors = list(validator.iter_errors(method))
        assert not errors, (method["name"], [e.message for e in errors[:3]])
    names = [m["name"] for m in socket["methods"]]
    assert names == ["auth", "event.subscribe", "event.unsubscribe"]
    assert "event.subscribe" not in [m["name"] for m in doc["methods"]], "not callable over POST /rpc"
    subscribe = socket["methods"][1]
    assert {p["name"] for p in subscribe["params"]} == {"types", "since"}
    assert {n["name"] for n in socket["notifications"]} == {"event", "event.unsubscribed"}
    aliases = re.findall(r"`([a-z.]+)`", socket["methods"][0]["description"])
    assert set(aliases) >= {"authenticate", "auth.authenticate"}

    person = await users.make("student")
    async with aiohttp.ClientSession() as session, session.ws_connect(socket["url"]) as ws:
        for n, name in enumerate(["auth", *sorted(set(aliases) - {"token", "access_token"})], start=1):
            await ws.send_json({"jsonrpc": "2.0", "method": name, "params": {"token": person.token}, "id": n})
            assert (await ws.receive_json())["result"] == {"user_id": person.id}, name
        await ws.send_json({"jsonrpc": "2.0", "method": "event.subscribe", "params": {"since": 0}, "id": 9})
        answer = await ws.receive_json()
        while answer.get("id") != 9:
            answer = await ws.receive_json()
        assert answer["result"]["subscribed"] is True
        await ws.send_json({"jsonrpc": "2.0", "method": "event.unsubscribe", "params": {}, "id": 10})
        answer = await ws.receive_json()
        while answer.get("id") != 10:
            answer = await ws.receive_json()
        assert answer["result"] == {"subscribed": False}


async def test_every_method_has_a_typed_result_errors_and_an_example(rpc):
    doc = await rpc.ok("rpc.discover")
    untyped = [m["name"] for m in doc["methods"] if not m["result"]["schema"]]
    assert not untyped, f"methods without a declared @result: {untyped}"
    assert all(m["errors"] for m in doc["methods"])
    no_example = [m["name"] for m in doc["methods"] if m["name"] != "rpc.discover" and not m.get("examples")]
    assert not no_example, f"methods without a recorded example (LMS_RECORD_EXAMPLES): {no_example}"
    for method in doc["methods"]:
        schema = {"allOf": [method["result"]["schema"]], "components": doc["components"]}
        for example in method.get("examples", []):
            assert not list(Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
                            .iter_errors(example["result"]["value"])), method["name"]


async def test_a_trusted_proxy_names_the_public_url(db):
    import aiohttp

    from tests.conftest import make_settings, start_server

    app, runner, base = await start_server(db.server_database_url, make_settings(trusted_proxies=["127.0.0.1/32"]))
    try:
        async with aiohttp.ClientSession() as session:
            body = {"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}
            headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "lms.example.org"}
            async with session.post(base + "/rpc", json=body, headers=headers) as resp:
                doc = (await resp.json())["result"]
            assert doc["servers"][0]["url"] == "https://lms.example.org/rpc"
            assert doc["x-websocket"]["url"] == "wss://lms.example.org/ws"
    finally:
        await runner.cleanup()
    app, runner, base = await start_server(db.server_database_url, make_settings())
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base + "/rpc", json=body, headers=headers) as resp:
                doc = (await resp.json())["result"]
            assert doc["servers"][0]["url"] == base + "/rpc", "an untrusted peer's forwarded headers are ignored"
    finally:
        await runner.cleanup()


async def test_a_broken_document_is_rejected(rpc):
    """The validator is live: a document with a mistake fails."""
    openrpc_meta, json_schema_meta = meta_schemas()
    resource = Resource.from_contents(json_schema_meta, default_specification=DRAFT7)
    registry = Registry().with_resources([("https://meta.json-schema.tools", resource),
                                          ("https://meta.json-schema.tools/", resource)])
    doc = await rpc.ok("rpc.discover")
    doc["methods"][0]["params"] = [{"schema": {}}]  # a content descriptor without its name
    assert list(Draft7Validator(openrpc_meta, registry=registry).iter_errors(doc))
