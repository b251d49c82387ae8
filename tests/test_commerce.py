"""Commerce through the HTTP server: buying a course end to end with the local provider and signed
events, the webhook's guarantees (signature, once per event id also under 20 concurrent deliveries,
out-of-order events, amount mismatch), order rules, and the Stripe provider's real SDK calls against
a local stub of the two Stripe endpoints it uses."""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import aiohttp
from aiohttp import web

from rpc.db.cluster import free_port
from rpc.workers import payments
from tests.conftest import RpcClient, make_settings, start_server


async def paid_course(rpc, users, price_cents: int = 4900):
    ina = await users.make("instructor")
    course = await rpc.ok("course.create", {"title": "Paid course", "price_cents": price_cents}, ina.token)
    lesson = await rpc.ok("lesson.create", {"course_id": course["id"], "title": "Paid lesson",
                                            "content": "the paid content"}, ina.token)
    await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, ina.token)
    await rpc.ok("course.publish", {"course_id": course["id"]}, ina.token)
    return course["id"], lesson["id"], ina


def event(order: dict, outcome: str, amount: int | None = None, currency: str | None = None,
          event_id: str | None = None) -> dict:
    return payments.build_event(outcome, order["order_id"], order["payment_intent_id"],
                                order["amount_cents"] if amount is None else amount,
                                currency or order["currency"], event_id)


async def deliver(rpc, ev: dict, timestamp: int | None = None, secret: str | None = None):
    body, headers = payments.signed(ev, secret or rpc.service.settings.stripe_webhook_key(), timestamp)
    return await rpc.post(body, headers=headers, path="/webhooks/stripe")


def counts(db, order_id: str) -> dict:
    (row,) = db.execute(
        """select (select status from app.orders where id = %(o)s),
                  (select count(*) from app.payments where order_id = %(o)s),
                  (select string_agg(status, ',') from app.payments where order_id = %(o)s),
                  (select count(*) from app.enrollments e join app.orders o on o.user_id = e.user_id
                     and o.course_id = e.course_id where o.id = %(o)s and e.is_active),
                  (select count(*) from app.audit_log where subject_id = %(o)s and action = 'order.completed')""",
        {"o": order_id})
    return dict(zip(("order", "payments", "payment_status", "active_enrollments", "completed_audits"), row,
                    strict=True))


async def test_buy_read_refund_and_buy_again(rpc, users, db):
    course_id, lesson_id, _ = await paid_course(rpc, users)
    sam = await users.make("student")
    ada = await users.make("admin")
    err = await rpc.error("lesson.get", {"lesson_id": lesson_id}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (403, "not_enrolled"), err

    order = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    assert order["status"] == "pending" and order["amount_cents"] == 4900 and order["currency"] == "USD"
    assert order["payment_intent_id"].startswith("pi_local_") and "_secret_" in order["client_secret"]
    again = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    assert (again["order_id"], again["payment_intent_id"], again["client_secret"]) == \
        (order["order_id"], order["payment_intent_id"], order["client_secret"])

    status, answer = await deliver(rpc, event(order, "succeeded"))
    assert status == 200 and answer["duplicate"] is False and answer["outcome"] == "order completed", answer
    done = await rpc.ok("order.get", {"order_id": order["order_id"]}, sam.token)
    assert done["status"] == "completed" and done["payment_status"] == "succeeded" and done["completed_at"]
    lesson = await rpc.ok("lesson.get", {"lesson_id": lesson_id}, sam.token)
    assert lesson["content"] == "the paid content"
    (enrollment,) = await rpc.ok("enrollment.list_mine", {}, sam.token)
    assert enrollment["is_active"] and enrollment["payment_id"] == done["payment_id"]
    err = await rpc.error("order.create", {"course_id": course_id}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (409, "already_enrolled")

    # Refund: the admin asks the provider; nothing changes until the provider's event.
    refund = await rpc.ok("order.refund", {"order_id": order["order_id"]}, ada.token)
    assert refund["refund_id"].startswith("re_local_") and refund["status"] == "completed"
    assert (await rpc.ok("lesson.get", {"lesson_id": lesson_id}, sam.token))["content"]
    status, answer = await deliver(rpc, event(order, "refunded"))
    assert status == 200 and answer["outcome"] == "order refunded", answer
    refunded = await rpc.ok("order.get", {"order_id": order["order_id"]}, sam.token)
    assert refunded["status"] == "refunded" and refunded["payment_status"] == "refunded"
    err = await rpc.error("lesson.get", {"lesson_id": lesson_id}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (403, "not_enrolled"), err
    err = await rpc.error("enrollment.enroll", {"course_id": course_id}, sam.token)
    assert err["data"]["reason"] == "payment_required"

    # Buying again after the refund: a new order, and the enrollment is re-activated.
    second = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    assert second["order_id"] != order["order_id"] and second["status"] == "pending"
    assert second["payment_intent_id"] != order["payment_intent_id"]
    status, _ = await deliver(rpc, event(second, "succeeded"))
    assert status == 200
    assert (await rpc.ok("lesson.get", {"lesson_id": lesson_id}, sam.token))["content"] == "the paid content"
    (enrollment2,) = await rpc.ok("enrollment.list_mine", {}, sam.token)
    assert enrollment2["id"] == enrollment["id"] and enrollment2["is_active"]
    assert enrollment2["payment_id"] != enrollment["payment_id"]
    mine = await rpc.ok("order.list_mine", {}, sam.token)
    assert [o["order_id"] for o in mine] == [second["order_id"], order["order_id"]]
    assert [o["status"] for o in mine] == ["completed", "refunded"] and mine[0]["course_title"] == "Paid course"

    actions = [a for (a,) in db.execute(
        "select action from app.audit_log where subject_id = any(%s::uuid[]) order by id",
        [[order["order_id"], second["order_id"]]])]
    assert actions == ["order.created", "order.intent_created", "order.completed", "order.refund_requested",
                       "order.refunded", "order.created", "order.intent_created", "order.completed"]


async def test_twenty_concurrent_deliveries_apply_once(rpc, users, db):
    course_id, _, _ = await paid_course(rpc, users)
    sam = await users.make("student")
    order = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    body, headers = payments.signed(event(order, "succeeded"), rpc.service.settings.stripe_webhook_key())
    answers = await asyncio.gather(*(rpc.post(body, headers=headers, path="/webhooks/stripe") for _ in range(20)))
    assert [s for s, _ in answers] == [200] * 20
    assert sorted(a["duplicate"] for _, a in answers) == [False] + [True] * 19
    assert counts(db, order["order_id"]) == {"order": "completed", "payments": 1, "payment_status": "succeeded",
                                             "active_enrollments": 1, "completed_audits": 1}
    assert db.execute("select count(*) from app.payment_events") == [(1,)]


async def test_bad_signatures_and_bodies_are_400_and_record_nothing(rpc, users, db):
    course_id, _, _ = await paid_course(rpc, users)
    sam = await users.make("student")
    order = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    ev = event(order, "succeeded")
    secret = rpc.service.settings.stripe_webhook_key()
    status, answer = await deliver(rpc, ev, secret="whsec_forged")
    assert (status, answer["error"]["data"]["reason"]) == (400, "invalid_signature")
    status, answer = await deliver(rpc, ev, timestamp=int(time.time()) - 301)  # outside the 5 minutes
    assert (status, answer["error"]["data"]["reason"]) == (400, "invalid_signature")
    body, headers = payments.signed(ev, secret)
    status, _ = await rpc.post(body, headers={}, path="/webhooks/stripe")  # no signature at all
    assert status == 400
    status, _ = await rpc.post(body.replace('"amount": 4900', '"amount": 1'), headers=headers,
                               path="/webhooks/stripe")  # signed body changed
    assert status == 400
    for raw in ("{not json", "[1, 2]", '{"id": 1}', '{"id": "evt_x", "type": "x"}', '{"a": NaN}'):
        status, answer = await rpc.post(raw, headers={"Stripe-Signature": payments.sign(raw, secret)},
                                        path="/webhooks/stripe")
        assert status == 400, (raw, answer)
    raw = b'{"id": "evt_\xff"}'
    status, _ = await rpc.post(raw, headers={"Stripe-Signature": payments.sign(raw.decode("latin-1"), secret)},
                               path="/webhooks/stripe")
    assert status == 400
    assert db.execute("select count(*) from app.payment_events") == [(0,)]
    assert counts(db, order["order_id"])["order"] == "pending"
    # An event type nobody uses is recorded and answered 200.
    other = {**ev, "id": "evt_other", "type": "customer.created"}
    status, answer = await deliver(rpc, other)
    assert status == 200 and answer["outcome"] == "ignored: event type not used"


async def test_amount_or_currency_mismatch_is_recorded_not_honoured(rpc, users, db):
    course_id, lesson_id, _ = await paid_course(rpc, users)
    sam = await users.make("student")
    order = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    status, answer = await deliver(rpc, event(order, "succeeded", amount=100))
    assert status == 200 and answer["outcome"].startswith("not honoured"), answer
    assert counts(db, order["order_id"]) == {"order": "failed", "payments": 1, "payment_status": "amount_mismatch",
                                             "active_enrollments": 0, "completed_audits": 0}
    err = await rpc.error("lesson.get", {"lesson_id": lesson_id}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (403, "not_enrolled"), err
    # The student may order again; a wrong currency is not honoured either.
    second = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    assert second["order_id"] != order["order_id"]
    status, _ = await deliver(rpc, event(second, "succeeded", currency="eur"))
    assert status == 200
    assert counts(db, second["order_id"])["payment_status"] == "amount_mismatch"
    assert db.execute("select count(*) from app.audit_log where action = 'order.amount_mismatch'") == [(2,)]


async def test_failed_payment_then_success(rpc, users, db):
    course_id, lesson_id, _ = await paid_course(rpc, users)
    sam = await users.make("student")
    order = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    status, answer = await deliver(rpc, event(order, "failed"))
    assert status == 200 and answer["outcome"] == "order failed"
    assert (await rpc.ok("order.get", {"order_id": order["order_id"]}, sam.token))["status"] == "failed"
    assert counts(db, order["order_id"])["active_enrollments"] == 0
    # The provider retried with another card and the intent succeeded after all: honoured.
    status, _ = await deliver(rpc, event(order, "succeeded"))
    assert status == 200
    assert counts(db, order["order_id"])["order"] == "completed"
    assert (await rpc.ok("lesson.get", {"lesson_id": lesson_id}, sam.token))["content"]


async def test_events_out_of_order_reach_the_same_final_state(rpc, users, db):
    course_id, lesson_id, _ = await paid_course(rpc, users)
    sam = await users.make("student")
    pia = await users.make("student")
    # In order: succeeded, refunded. Out of order: refunded, succeeded.
    a = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    b = await rpc.ok("order.create", {"course_id": course_id}, pia.token)
    for ev in (event(a, "succeeded"), event(a, "refunded"), event(b, "refunded"), event(b, "succeeded")):
        assert (await deliver(rpc, ev))[0] == 200
    expected = {"order": "refunded", "payments": 1, "payment_status": "refunded", "active_enrollments": 0}
    for o in (a, b):
        state = counts(db, o["order_id"])
        del state["completed_audits"]
        assert state == expected, (o, state)
    for who in (sam, pia):
        err = await rpc.error("lesson.get", {"lesson_id": lesson_id}, who.token)
        assert (err["code"], err["data"]["reason"]) == (403, "not_enrolled"), err
    # A failure arriving after the success changes nothing.
    c = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    for ev in (event(c, "succeeded"), event(c, "failed")):
        assert (await deliver(rpc, ev))[0] == 200
    assert counts(db, c["order_id"])["order"] == "completed"
    assert (await rpc.ok("lesson.get", {"lesson_id": lesson_id}, sam.token))["content"]


async def test_order_rules_and_concurrent_create(rpc, users, db):
    course_id, _, ina = await paid_course(rpc, users)
    sam = await users.make("student")
    pia = await users.make("student")
    ada = await users.make("admin")
    free = await rpc.ok("course.create", {"title": "Free", "price_cents": 0}, ina.token)
    err = await rpc.error("order.create", {"course_id": free["id"]}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (404, "not_found")  # unpublished: invisible
    lesson = await rpc.ok("lesson.create", {"course_id": free["id"], "title": "L", "content": "c"}, ina.token)
    await rpc.ok("lesson.publish", {"lesson_id": lesson["id"]}, ina.token)
    await rpc.ok("course.publish", {"course_id": free["id"]}, ina.token)
    err = await rpc.error("order.create", {"course_id": free["id"]}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (422, "course_is_free")
    err = await rpc.error("order.create", {"course_id": "00000000-0000-4000-8000-000000000000"}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (404, "not_found")
    err = await rpc.error("order.create", {"course_id": course_id})
    assert err["code"] == 401

    orders = await asyncio.gather(*(rpc.ok("order.create", {"course_id": course_id}, sam.token) for _ in range(10)))
    assert len({(o["order_id"], o["payment_intent_id"], o["client_secret"]) for o in orders}) == 1
    assert db.execute("select count(*) from app.orders where user_id = %s", [sam.id]) == [(1,)]
    order = orders[0]

    # Who sees what: the buyer, the course's instructor, admins; others 404. The secret: the buyer only.
    err = await rpc.error("order.get", {"order_id": order["order_id"]}, pia.token)
    assert (err["code"], err["data"]["reason"]) == (404, "not_found")
    seen = await rpc.ok("order.get", {"order_id": order["order_id"]}, ina.token)
    assert seen["client_secret"] is None and seen["payment_intent_id"] == order["payment_intent_id"]
    assert (await rpc.ok("order.get", {"order_id": order["order_id"]}, ada.token))["client_secret"] is None
    assert await rpc.ok("order.list_mine", {}, pia.token) == []
    err = await rpc.error("order.list_mine", {"limit": 0}, sam.token)
    assert err["code"] == -32602

    # Refunds: admins only, completed orders only.
    err = await rpc.error("order.refund", {"order_id": order["order_id"]}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (403, "forbidden")
    err = await rpc.error("order.refund", {"order_id": order["order_id"]}, pia.token)
    assert (err["code"], err["data"]["reason"]) == (404, "not_found")
    err = await rpc.error("order.refund", {"order_id": order["order_id"]}, ada.token)
    assert (err["code"], err["data"]["reason"]) == (422, "order_not_refundable")


def intent_state(db, order_id: str) -> tuple:
    (row,) = db.execute("select status, canceled_at is not null, provider_canceled_at is not null "
                        "from app.orders where id = %s", [order_id])
    return row


async def test_order_cancel_and_a_payment_under_way(rpc, users, db):
    """order.cancel did not exist: a buyer stuck with a pending order could not get rid of it."""
    course_id, lesson_id, ina = await paid_course(rpc, users)
    sam, pia, ada = await users.make("student"), await users.make("student"), await users.make("admin")
    first = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    err = await rpc.error("order.cancel", {"order_id": first["order_id"]}, pia.token)
    assert (err["code"], err["data"]["reason"]) == (404, "not_found")
    err = await rpc.error("order.cancel", {"order_id": first["order_id"]}, ina.token)
    assert (err["code"], err["data"]["reason"]) == (403, "forbidden")
    canceled = await rpc.ok("order.cancel", {"order_id": first["order_id"]}, sam.token)
    assert canceled["status"] == "canceled" and canceled["canceled_at"]
    assert intent_state(db, first["order_id"]) == ("canceled", True, True)  # and at the provider
    again = await rpc.ok("order.cancel", {"order_id": first["order_id"]}, sam.token)
    assert again["status"] == "canceled"
    assert db.execute("select count(*) from app.audit_log where subject_id = %s and action = 'order.canceled'",
                      [first["order_id"]]) == [(1,)]

    # A new order is a new order; a payment of the canceled one that was under way still buys the
    # course (money taken) and cancels the new pending order.
    second = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    assert second["order_id"] != first["order_id"] and second["status"] == "pending"
    status, _ = await deliver(rpc, event(first, "succeeded"))
    assert status == 200
    assert counts(db, first["order_id"])["order"] == "completed"
    assert intent_state(db, second["order_id"])[:2] == ("canceled", True)
    assert (await rpc.ok("lesson.get", {"lesson_id": lesson_id}, sam.token))["content"]
    err = await rpc.error("order.cancel", {"order_id": first["order_id"]}, sam.token)
    assert (err["code"], err["data"]["reason"]) == (422, "order_not_cancelable")
    # An admin may cancel anyone's pending order.
    third = await rpc.ok("order.create", {"course_id": course_id}, pia.token)
    assert (await rpc.ok("order.cancel", {"order_id": third["order_id"]}, ada.token))["status"] == "canceled"


async def test_course_changes_cancel_pending_orders(rpc, users, db):
    """A pending order kept its price forever, and stayed payable after the course was unpublished or
    made free; an instructor could order their own course."""
    course_id, _, ina = await paid_course(rpc, users)
    err = await rpc.error("order.create", {"course_id": course_id}, ina.token)
    assert (err["code"], err["data"]["reason"]) == (422, "own_course")
    sam, pia, kim = await users.make("student"), await users.make("student"), await users.make("student")
    old = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    await rpc.ok("course.update", {"course_id": course_id, "price_cents": 5900}, ina.token)
    assert intent_state(db, old["order_id"])[:2] == ("canceled", True)
    new = await rpc.ok("order.create", {"course_id": course_id}, sam.token)
    assert (new["amount_cents"], new["status"]) == (5900, "pending") and new["order_id"] != old["order_id"]
    # The old intent was canceled at the provider before the new one was made (order.create's hook).
    assert intent_state(db, old["order_id"]) == ("canceled", True, True)
    (reason,) = db.execute("select details ->> 'reason' from app.audit_log where subject_id = %s "
                           "and action = 'order.canceled'", [old["order_id"]])[0]
    assert reason == "course_repriced"

    # Unpublished: the pending order is canceled, and order.create refuses.
    pending = await rpc.ok("order.create", {"course_id": course_id}, pia.token)
    await rpc.ok("course.unpublish", {"course_id": course_id}, ina.token)
    assert intent_state(db, pending["order_id"])[0] == "canceled"
    assert intent_state(db, new["order_id"])[0] == "canceled"
    await rpc.ok("course.publish", {"course_id": course_id}, ina.token)
    # Made free by SQL (an admin with psql): the same rule, and the sweep cancels at the provider.
    pending = await rpc.ok("order.create", {"course_id": course_id}, kim.token)
    db.execute("update app.courses set price_cents = 0 where id = %s", [course_id])
    assert intent_state(db, pending["order_id"]) == ("canceled", True, False)
    assert await payments.sweep(rpc.service) >= 1
    assert intent_state(db, pending["order_id"]) == ("canceled", True, True)
    assert await payments.sweep(rpc.service) == 0
    err = await rpc.error("order.create", {"course_id": course_id}, kim.token)
    assert (err["code"], err["data"]["reason"]) == (422, "course_is_free")

    # Orders made while the price changes: none stays pending at the old price.
    await rpc.ok("course.update", {"course_id": course_id, "price_cents": 6900}, ina.token)
    buyers = [await users.make("student") for _ in range(8)]
    await asyncio.gather(*(rpc.ok("order.create", {"course_id": course_id}, b.token) for b in buyers),
                         rpc.ok("course.update", {"course_id": course_id, "price_cents": 7900}, ina.token))
    assert db.execute("select distinct amount_cents from app.orders where course_id = %s and status = 'pending'",
                      [course_id]) in ([(7900,)], [])


class StripeStub:
    """The two Stripe endpoints the provider uses, recording the requests the SDK builds."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail = False
        self.settled: set[str] = set()  # intents the stub answers "unexpected state" for (paid already)

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(urllib.parse.parse_qsl(await request.text()))
        self.requests.append({"path": request.path, "form": form, "headers": dict(request.headers)})
        if self.fail:
            return web.json_response({"error": {"type": "invalid_request_error", "message": "No such thing"}},
                                     status=400)
        if request.path.endswith("/cancel"):
            pi = request.path.split("/")[3]
            if pi in self.settled:
                return web.json_response({"error": {"type": "invalid_request_error",
                                                     "code": "payment_intent_unexpected_state",
                                                     "message": "This PaymentIntent's status is succeeded."}},
                                         status=400)
            return web.json_response({"id": pi, "object": "payment_intent", "status": "canceled"})
        if request.path == "/v1/payment_intents":
            pi = "pi_stub_" + form["metadata[order_id]"].replace("-", "")
            return web.json_response({"id": pi, "object": "payment_intent", "amount": int(form["amount"]),
                                      "currency": form["currency"], "client_secret": pi + "_secret_stub",
                                      "status": "requires_payment_method",
                                      "metadata": {"order_id": form["metadata[order_id]"]}})
        return web.json_response({"id": "re_stub_1", "object": "refund", "payment_intent": form["payment_intent"],
                                  "status": "succeeded", "amount": 4900, "currency": "usd"})


async def test_stripe_provider_against_a_stub(db, rpc, users):
    stub = StripeStub()
    stub_app = web.Application()
    stub_app.router.add_post("/v1/payment_intents", stub.handle)
    stub_app.router.add_post("/v1/refunds", stub.handle)
    stub_app.router.add_post("/v1/payment_intents/{intent}/cancel", stub.handle)
    stub_runner = web.AppRunner(stub_app)
    await stub_runner.setup()
    port = free_port()
    await web.TCPSite(stub_runner, "127.0.0.1", port).start()
    settings = make_settings(stripe_api_key="sk_test_stub_key", stripe_api_base=f"http://127.0.0.1:{port}",
                             stripe_webhook_secret="whsec_stub_test_secret")
    app, runner, base = await start_server(db.server_database_url, settings)
    try:
        async with aiohttp.ClientSession() as session:
            client = RpcClient(base, session, app)
            assert client.service.provider.name == "stripe"
            course_id, lesson_id, _ = await paid_course(client, users)
            sam = await users.make("student")
            ada = await users.make("admin")
            order = await client.ok("order.create", {"course_id": course_id}, sam.token)
            (req,) = stub.requests
            assert req["path"] == "/v1/payment_intents"
            assert req["form"]["amount"] == "4900" and req["form"]["currency"] == "usd"
            assert req["form"]["metadata[order_id]"] == order["order_id"]
            assert req["headers"]["Idempotency-Key"] == order["order_id"]
            assert req["headers"]["Authorization"] == "Bearer sk_test_stub_key"
            assert order["payment_intent_id"] == "pi_stub_" + order["order_id"].replace("-", "")
            assert order["client_secret"] == order["payment_intent_id"] + "_secret_stub"
            # Pending with its intent: asked again, the provider is not called again.
            await client.ok("order.create", {"course_id": course_id}, sam.token)
            assert len(stub.requests) == 1

            status, _ = await deliver(client, event(order, "succeeded"), secret="whsec_stub_test_secret")
            assert status == 200
            assert (await client.ok("lesson.get", {"lesson_id": lesson_id}, sam.token))["content"]
            refund = await client.ok("order.refund", {"order_id": order["order_id"]}, ada.token)
            assert refund["refund_id"] == "re_stub_1"
            req = stub.requests[-1]
            assert req["path"] == "/v1/refunds" and req["form"]["payment_intent"] == order["payment_intent_id"]
            assert req["headers"]["Idempotency-Key"] == "refund-" + order["order_id"]

            # The provider refuses: -32000 provider_unavailable, and the order stays as it was.
            stub.fail = True
            err = await client.error("order.refund", {"order_id": order["order_id"]}, ada.token)
            assert (err["code"], err["data"]["reason"]) == (-32000, "provider_unavailable")
            pia = await users.make("student")
            err = await client.error("order.create", {"course_id": course_id}, pia.token)
            assert (err["code"], err["data"]["reason"]) == (-32000, "provider_unavailable")
            stub.fail = False
            retried = await client.ok("order.create", {"course_id": course_id}, pia.token)
            assert retried["payment_intent_id"].startswith("pi_stub_")
            assert stub.requests[-1]["headers"]["Idempotency-Key"] == retried["order_id"]
            assert db.execute("select count(*) from app.orders where user_id = %s", [pia.id]) == [(1,)]

            # order.cancel cancels the intent at Stripe; an intent Stripe finds settled counts as done.
            await client.ok("order.cancel", {"order_id": retried["order_id"]}, pia.token)
            req = stub.requests[-1]
            assert req["path"] == f"/v1/payment_intents/{retried['payment_intent_id']}/cancel"
            assert req["form"] == {"cancellation_reason": "abandoned"}
            assert intent_state(db, retried["order_id"]) == ("canceled", True, True)
            kim = await users.make("student")
            paid = await client.ok("order.create", {"course_id": course_id}, kim.token)
            stub.settled.add(paid["payment_intent_id"])
            await client.ok("order.cancel", {"order_id": paid["order_id"]}, kim.token)
            assert intent_state(db, paid["order_id"]) == ("canceled", True, True)
            # Stripe down: canceled here, left for the sweep, which cancels it once Stripe answers.
            lea = await users.make("student")
            late = await client.ok("order.create", {"course_id": course_id}, lea.token)
            stub.fail = True
            await client.ok("order.cancel", {"order_id": late["order_id"]}, lea.token)
            assert intent_state(db, late["order_id"]) == ("canceled", True, False)
            assert await payments.sweep(client.service) == 0
            stub.fail = False
            assert await payments.sweep(client.service) == 1
            assert stub.requests[-1]["path"] == f"/v1/payment_intents/{late['payment_intent_id']}/cancel"
    finally:
        await runner.cleanup()
        await stub_runner.cleanup()
