"""A real OAuth 2.1 authorization server on 127.0.0.1, for tests: RFC 8414 metadata, RFC 7591
registration, /authorize with PKCE S256, /token (authorization_code, refresh_token with
rotation), RFC 7009 revocation. It approves every request at once (no login page), unless
told to deny the next one. It counts what it was asked, and keeps every token it issued so
that tests can prove none of them leaked."""

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class ProviderState:
    def __init__(self):
        self.lock = threading.Lock()
        self.clients: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.access: dict[str, float] = {}  # token -> expiry (epoch)
        self.refresh: dict[str, dict] = {}  # token -> grant
        self.revoked: list[str] = []
        self.issued: list[str] = []
        self.token_requests: list[str] = []  # grant types, in order
        self.registrations = 0
        self.deny_next = False
        self.expires_in = 3600
        self.refresh_delay = 0.0

    def active_access_token(self, token: str) -> bool:
        with self.lock:
            return self.access.get(token, 0) > time.time()

    def new_token(self, prefix: str) -> str:
        token = f"{prefix}-{secrets.token_urlsafe(24)}"
        self.issued.append(token)
        return token


class _Handler(BaseHTTPRequestHandler):
    state: ProviderState
    base_url: str

    def log_message(self, *args):
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(raw)
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/.well-known/oauth-authorization-server":
            return self._json(200, {
                "issuer": self.base_url,
                "authorization_endpoint": f"{self.base_url}/authorize",
                "token_endpoint": f"{self.base_url}/token",
                "registration_endpoint": f"{self.base_url}/register",
                "revocation_endpoint": f"{self.base_url}/revoke",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            })
        if url.path == "/authorize":
            return self._authorize({k: v[0] for k, v in parse_qs(url.query).items()})
        self._json(404, {"error": "not_found"})

    def _authorize(self, q: dict) -> None:
        client = self.state.clients.get(q.get("client_id", ""))
        if client is None or q.get("redirect_uri") not in client["redirect_uris"]:
            return self._json(400, {"error": "invalid_client"})
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return self._json(400, {"error": "invalid_request", "error_description": "PKCE S256 is required"})
        with self.state.lock:
            deny, self.state.deny_next = self.state.deny_next, False
            if deny:
                params = {"error": "access_denied", "error_description": "The user said no", "state": q["state"]}
            else:
                code = secrets.token_urlsafe(16)
                self.state.codes[code] = {**q, "issued_at": time.time()}
                params = {"code": code, "state": q["state"]}
        self.send_response(302)
        self.send_header("Location", f"{q['redirect_uri']}?{urlencode(params)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        path = urlsplit(self.path).path
        form = self._form()
        if path == "/register":
            client_id, client_secret = f"client-{secrets.token_hex(6)}", secrets.token_urlsafe(16)
            with self.state.lock:
                self.state.registrations += 1
                self.state.clients[client_id] = {"secret": client_secret, "redirect_uris": form["redirect_uris"]}
            return self._json(201, {"client_id": client_id, "client_secret": client_secret, **form})
        if path == "/token":
            return self._token(form)
        if path == "/revoke":
            with self.state.lock:
                token = form.get("token", "")
                self.state.revoked.append(token)
                self.state.access.pop(token, None)
                self.state.refresh.pop(token, None)
            return self._json(200, {})
        self._json(404, {"error": "not_found"})

    def _token(self, form: dict) -> None:
        grant = form.get("grant_type", "")
        with self.state.lock:
            self.state.token_requests.append(grant)
        client = self.state.clients.get(form.get("client_id", ""))
        if client is None or client["secret"] != form.get("client_secret"):
            return self._json(401, {"error": "invalid_client"})
        if grant == "authorization_code":
            with self.state.lock:
                issued = self.state.codes.pop(form.get("code", ""), None)  # single use
            if issued is None or issued["client_id"] != form["client_id"] or issued["redirect_uri"] != form.get("redirect_uri"):
                return self._json(400, {"error": "invalid_grant"})
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != issued["code_challenge"]:
                return self._json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
            scope = issued.get("scope", "")
        elif grant == "refresh_token":
            time.sleep(self.state.refresh_delay)
            with self.state.lock:
                old = self.state.refresh.pop(form.get("refresh_token", ""), None)  # rotation: single use
            if old is None:
                return self._json(400, {"error": "invalid_grant"})
            scope = old["scope"]
        else:
            return self._json(400, {"error": "unsupported_grant_type"})
        with self.state.lock:
            access, refresh = self.state.new_token("at"), self.state.new_token("rt")
            self.state.access[access] = time.time() + self.state.expires_in
            self.state.refresh[refresh] = {"scope": scope, "client_id": form["client_id"]}
        self._json(200, {"access_token": access, "token_type": "Bearer", "expires_in": self.state.expires_in,
                         "refresh_token": refresh, "scope": scope})


class FakeProvider:
    def __init__(self):
        self.state = ProviderState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.httpd.RequestHandlerClass = type("Handler", (_Handler,), {"state": self.state, "base_url": self.url})
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "FakeProvider":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
