"""A real LTI 1.3 tool for the tests: a small Flask app on the tool-side library pylti1p3, served on
loopback by werkzeug in a thread. It does what a tool does with its own code, not ours: the OIDC
login initiation (pylti1p3's FlaskOIDCLogin, with its state cookie and nonce), and the launch's
validation (FlaskMessageLaunch: our id_token's signature through our JWKS, iss, aud, nonce, the LTI
claims, the deployment). Its launch page answers the validated launch data as JSON, or the library's
refusal with status 400; a deep-linking request is answered with the library's deep-linking response
(its auto-submitting form, the JWT signed with the tool's key). After a launch, the library's service
clients act for it: `POST /score` (AGS: the token by client assertion, the line item, the score) and
`GET /roster` (NRPS, following the Link headers) — what a tool does with the launch's endpoints."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.tool_config import ToolConfDict
from werkzeug.serving import make_server

from rpc.db.cluster import free_port


@dataclass
class LtiTool:
    port: int = field(default_factory=free_port)
    conf: ToolConfDict | None = None
    launches: dict = field(default_factory=dict)  # launch id → the validated FlaskMessageLaunch
    deep_link_items: list = field(default_factory=list)  # what the tool answers a deep-linking request with
    _server: object = None

    def __post_init__(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
        self.public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def registration(self) -> dict:
        """What the platform's admin enters for this tool (lti.tool_register)."""
        return {"name": "Practice sandbox (pylti1p3)", "login_url": self.base + "/login",
                "launch_url": self.base + "/launch", "jwks_url": self.base + "/jwks",
                "deep_linking_url": self.base + "/deep-link", "scopes": [
                    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
                    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"]}

    def configure(self, registered: dict, deployment_ids: list[str] | None = None) -> None:
        """The tool's side of the registration: the platform's answer to lti.tool_register."""
        issuer, client_id = registered["issuer"], registered["client_id"]
        self.conf = ToolConfDict({issuer: [{
            "default": True, "client_id": client_id, "auth_login_url": registered["auth_url"],
            "auth_token_url": registered["token_url"], "auth_audience": None,
            "key_set_url": registered["platform_jwks_url"], "key_set": None,
            "deployment_ids": deployment_ids or [registered["deployment_id"]]}]})
        self.conf.set_private_key(issuer, self.private_pem, client_id=client_id)
        self.conf.set_public_key(issuer, self.public_pem, client_id=client_id)

    def app(self) -> Flask:
        app = Flask("lti-test-tool")
        app.secret_key = "the-test-tool-session-key"

        @app.route("/login", methods=["GET", "POST"])
        def login():
            request = FlaskRequest()
            return FlaskOIDCLogin(request, self.conf).redirect(request.get_param("target_link_uri"))

        @app.route("/launch", methods=["POST"])
        @app.route("/deep-link", methods=["POST"])
        def launch():
            try:
                message = FlaskMessageLaunch(FlaskRequest(), self.conf)
                data = message.get_launch_data()
            except LtiException as exc:
                return jsonify({"refused": str(exc)}), 400
            if message.is_deep_link_launch():
                resources = []
                for item in self.deep_link_items:
                    resource = DeepLinkResource().set_title(item["title"]).set_url(item["url"])
                    if "points" in item:
                        resource.set_lineitem(LineItem().set_score_maximum(item["points"]).set_label(item["title"]))
                    resources.append(resource)
                return message.get_deep_link().output_response_form(resources)
            self.launches[message.get_launch_id()] = message
            return jsonify({"launch": data, "launch_id": message.get_launch_id(),
                            "is_instructor": message.check_teacher_access(),
                            "is_student": message.check_student_access()})

        @app.route("/score", methods=["POST"])
        def score():
            """The library's AGS client posts a score for a launch's learner: to the launch's line item, or
            to one found or made by tag."""
            body = request.get_json()
            message = self.launches[body["launch_id"]]
            grade = (Grade().set_score_given(body["score"]).set_score_maximum(body["maximum"])
                     .set_timestamp(body["timestamp"]).set_activity_progress("Completed")
                     .set_grading_progress(body.get("progress", "FullyGraded")).set_user_id(body["user_id"]))
            line_item = None
            if "tag" in body:
                line_item = LineItem().set_tag(body["tag"]).set_label(body["tag"]).set_score_maximum(body["maximum"])
            try:
                sent = message.get_ags().put_grade(grade, line_item)
            except LtiServiceException as exc:
                return jsonify({"refused": str(exc)}), 400
            return jsonify({"sent": sent["body"], "line_items": message.get_ags().get_lineitems()})

        @app.route("/roster")
        def roster():
            message = self.launches[request.args["launch_id"]]
            return jsonify(message.get_nrps().get_members())

        @app.route("/jwks")
        def jwks():
            return jsonify(self.conf.get_jwks())

        return app

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app(), threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
