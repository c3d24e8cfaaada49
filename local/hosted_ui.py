"""Cognito's Hosted UI, emulated: the OAuth 2.0 endpoints the dashboard uses.

moto implements Cognito's API (users, InitiateAuth, real RS256 tokens) but not
the Hosted UI. This serves the documented endpoints over it:

- `GET /oauth2/authorize`: Authorization Code flow only, PKCE (S256) required
  (the app client is public); `redirect_uri` must be one of the app client's
  registered CallbackURLs, read from the pool as Cognito does.
- `POST /login`: the sign-in form; checks the password with USER_PASSWORD_AUTH
  and redirects back with a one-time code that lives five minutes.
- `POST /oauth2/token`: `authorization_code` (verifies the code's client,
  redirect URI and PKCE verifier) and `refresh_token` grants; errors as
  `{"error": "invalid_grant" | "invalid_request" | ...}` with status 400.
- `GET /logout`: redirects to `logout_uri` when it is a registered LogoutURL.

The sign-in page shows the local stack's demo user, email and password: this
emulation runs only on the local stack, where the password is a throwaway.

The tokens are moto's own, so the gateway's JWT authorizer verifies them
against the pool's JWKS like any other.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from local.serving import BackgroundServer, Served

CODE_LIFETIME_S = 300


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    tokens: dict
    expires: float


class HostedUI(Served):
    def __init__(self, cognito, pool_id: str, host: str = "127.0.0.1", port: int = 0,
                 demo_user: dict | None = None) -> None:
        self.cognito = cognito
        self.pool_id = pool_id
        self.demo_user = demo_user
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server = BackgroundServer(_handler_for(self), host, port, "hosted-ui")

    def client(self, client_id: str) -> dict | None:
        try:
            return self.cognito.describe_user_pool_client(UserPoolId=self.pool_id, ClientId=client_id)["UserPoolClient"]
        except self.cognito.exceptions.ResourceNotFoundException:
            return None

    def issue_code(self, grant: _Grant) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[code] = grant
        return code

    def redeem(self, code: str) -> _Grant | None:
        with self._lock:
            grant = self._grants.pop(code, None)
        return grant if grant and grant.expires > time.time() else None


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _handler_for(ui: HostedUI):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the stack's own output is quieter
            pass

        def _query(self) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

        def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: dict) -> None:
            # Browsers call the token endpoint cross-origin, as with the real one.
            self._send(status, json.dumps(payload).encode(), "application/json",
                       {"Access-Control-Allow-Origin": self.headers.get("Origin") or "*"})

        def _redirect(self, location: str) -> None:
            self._send(302, b"", "text/plain", {"Location": location})

        def _error_page(self, status: int, message: str) -> None:
            self._send(status, _page(f"<p class=error>{html.escape(message)}</p>"), "text/html; charset=utf-8")

        def do_OPTIONS(self) -> None:
            self._send(204, b"", "text/plain", {
                "Access-Control-Allow-Origin": self.headers.get("Origin") or "*",
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
            })

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path in ("/oauth2/authorize", "/login"):
                self._authorize(self._query())
            elif path == "/logout":
                self._logout(self._query())
            else:
                self._error_page(404, "Not found")

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path == "/login":
                self._login(self._form())
            elif path == "/oauth2/token":
                self._token(self._form())
            else:
                self._error_page(404, "Not found")

        def _checked(self, params: dict[str, str]) -> str | None:
            """Why an authorize request is refused, or None when it is acceptable."""
            client = ui.client(params.get("client_id", ""))
            if client is None:
                return "invalid client_id"
            if params.get("redirect_uri") not in client.get("CallbackURLs", []):
                return "redirect_mismatch"
            if params.get("response_type") != "code" or "code" not in client.get("AllowedOAuthFlows", []):
                return "unsupported_response_type"
            if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
                return "PKCE with code_challenge_method=S256 is required for a public client"
            return None

        def _authorize(self, params: dict[str, str], error: str = "") -> None:
            problem = self._checked(params)
            if problem:
                self._error_page(400, problem)
                return
            hidden = "".join(
                f'<input type=hidden name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items() if k not in ("username", "password")
            )
            notice = f"<p class=error>{html.escape(error)}</p>" if error else ""
            demo = ""
            if ui.demo_user:
                demo = (f"<aside class=demo aria-label='Demo user'><strong>Local stack demo user</strong>"
                        f"<br>Email: <code>{html.escape(ui.demo_user['username'])}</code>"
                        f"<br>Password: <code>{html.escape(ui.demo_user['password'])}</code></aside>")
            self._send(200, _page(f"""{notice}{demo}
<form method=post action="/login">{hidden}
  <label>Email <input name=username type=email autocomplete=username required></label>
  <label>Password <input name=password type=password autocomplete=current-password required></label>
  <button type=submit>Sign in</button>
</form>"""), "text/html; charset=utf-8")

        def _login(self, form: dict[str, str]) -> None:
            problem = self._checked(form)
            if problem:
                self._error_page(400, problem)
                return
            try:
                answer = ui.cognito.initiate_auth(
                    ClientId=form["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": form.get("username", ""), "PASSWORD": form.get("password", "")},
                )
            except (ui.cognito.exceptions.NotAuthorizedException, ui.cognito.exceptions.UserNotFoundException):
                self._authorize(form, "Incorrect username or password.")
                return
            except ui.cognito.exceptions.ClientError as error:
                self._authorize(form, f"Sign-in failed: {error.response['Error'].get('Message', 'unknown error')}")
                return
            result = answer.get("AuthenticationResult")
            if result is None:
                # A challenge (a new password, MFA) needs pages this emulation does not have.
                self._authorize(form, f"This user must first answer the {answer.get('ChallengeName')} challenge.")
                return
            code = ui.issue_code(_Grant(form["client_id"], form["redirect_uri"], form["code_challenge"], result,
                                        time.time() + CODE_LIFETIME_S))
            query = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
            self._redirect(f"{form['redirect_uri']}?{urlencode(query)}")

        def _token(self, form: dict[str, str]) -> None:
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                grant = ui.redeem(form.get("code", ""))
                if (grant is None or grant.client_id != form.get("client_id")
                        or grant.redirect_uri != form.get("redirect_uri")
                        or s256(form.get("code_verifier", "")) != grant.challenge):
                    self._json(400, {"error": "invalid_grant"})
                    return
                tokens = grant.tokens
            elif grant_type == "refresh_token":
                try:
                    tokens = ui.cognito.initiate_auth(
                        ClientId=form.get("client_id", ""), AuthFlow="REFRESH_TOKEN_AUTH",
                        AuthParameters={"REFRESH_TOKEN": form.get("refresh_token", "")},
                    )["AuthenticationResult"]
                except ui.cognito.exceptions.ClientError:
                    self._json(400, {"error": "invalid_grant"})
                    return
            else:
                self._json(400, {"error": "unsupported_grant_type"})
                return
            self._json(200, {
                "access_token": tokens["AccessToken"],
                "id_token": tokens["IdToken"],
                **({"refresh_token": tokens["RefreshToken"]} if tokens.get("RefreshToken") else {}),
                "token_type": "Bearer",
                "expires_in": tokens.get("ExpiresIn", 3600),
            })

        def _logout(self, params: dict[str, str]) -> None:
            client = ui.client(params.get("client_id", ""))
            if client is None or params.get("logout_uri") not in client.get("LogoutURLs", []):
                self._error_page(400, "logout_uri is not registered for this client")
                return
            self._redirect(params["logout_uri"])

    return Handler


def _page(body: str) -> bytes:
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>Sign in</title>
<link rel=icon href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}}\
label{{display:block;margin:.75rem 0}}
input{{display:block;width:100%;padding:.4rem;box-sizing:border-box}}.error{{color:#8c1d18}}
.demo{{background:#eef4ff;border:1px solid #b9cdf5;border-radius:6px;padding:.6rem .8rem;margin:1rem 0;\
overflow-wrap:anywhere}}</style></head>
<body><h1>Sign in</h1>{body}</body></html>""".encode()
