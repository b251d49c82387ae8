"""A real LTI 1.3 tool for the tests: a small Flask app on the tool-side library pylti1p3, served on
loopback by werkzeug in a thread. It does what a tool does with its own code, not ours: the OIDC
login initiation (pylti1p3's FlaskOIDCLogin, with its state cookie and nonce), and the launch's
validation (FlaskMessageLaunch: our id_token's signature through our JWKS, iss, aud, nonce, the LTI
claims, the deployment). Its launch page answers the validated launch data as JSON, or the library's
refusal with status 400."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException
from pylti1p3.tool_config import ToolConfDict
from werkzeug.serving import make_server

from rpc.db.cluster import free_port


@dataclass
class LtiTool:
    port: int = field(default_factory=free_port)
    conf: ToolConfDict | None = None
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
                "launch_url": self.base + "/launch", "jwks_url": self.base + "/jwks"}

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
        def launch():
            try:
                message = FlaskMessageLaunch(FlaskRequest(), self.conf)
                data = message.get_launch_data()
            except LtiException as exc:
                return jsonify({"refused": str(exc)}), 400
            return jsonify({"launch": data, "is_instructor": message.check_teacher_access(),
                            "is_student": message.check_student_access()})

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
