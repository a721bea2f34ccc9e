"""One app instance as the measuring code talks to it: logged in, with its values and cookies.

The login (config `login:`) runs once per instance, before the first measured request; the
values it extracts and the cookies it keeps fill each endpoint's `{name}` placeholders and its
Cookie header. Profile and probe requests that are answered 401 log in again and are sent once
more (the 401 is not a sample); the load phase sends the values of a login made just before each
level. Every value a login gives is remembered as a secret (perfgate.redact) the moment it is
read. Endpoint `reset:` commands run here too, in the instance's folder.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from perfgate.endpoints import Endpoint, Login
from perfgate.errors import MeasurementError
from perfgate.redact import remember

EXCERPT_CHARS = 300
RESET_TIMEOUT_S = 300.0
UNAUTHORIZED = 401


class Session:
    def __init__(
        self,
        base_url: str,
        login: Login | None,
        timeout_s: float,
        folder: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.login = login
        self.timeout_s = timeout_s
        self.folder = folder
        self.env = dict(env or {})
        self.values: dict[str, str] = {}
        self.cookies: dict[str, str] = {}
        self.logins = 0  # how many times this instance was logged in

    def log_in(self) -> None:
        """Log in (again): new values and cookies, or MeasurementError (exit 3)."""
        login = self.login
        if login is None:
            return
        values: dict[str, str] = {}
        cookies: dict[str, str] = {}
        if login.get_first:
            status, headers, body = self._send("GET", login.get_first, dict(login.headers), None)
            cookies.update(_cookies(headers))
            for name, pattern in login.find.items():
                match = re.search(pattern, body)
                if not match:
                    raise MeasurementError(
                        f"login: GET {login.get_first} answered {status}, and login.find.{name} "
                        f"matched nothing in it: {_excerpt(body)!r}",
                        "check login.get_first and the regular expression of login.find",
                    )
                values[name] = match.group(1)
        request = login.filled(values, cookies)  # the page's session cookie goes back with it
        headers_out = dict(request.headers)
        if login.auth:
            pair = f"{login.auth.username}:{login.auth.password}".encode()
            headers_out["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            remember([headers_out["Authorization"].split(" ", 1)[1]])
        status, headers, body = self._send(request.method, request.path, headers_out, request.body)
        if not login.ok(status):
            raise MeasurementError(
                f"login failed: {login.method} {login.path} answered {status}: {_excerpt(body)!r}",
                "check login: in the config and the credentials it takes from the environment",
            )
        cookies.update(_cookies(headers))
        values.update(_extract(login, body))
        remember([*values.values(), *cookies.values()])
        self.values, self.cookies = values, (cookies if login.cookies else {})
        self.logins += 1

    def relogs_on(self, status: int | None, endpoint: Endpoint) -> bool:
        """Whether `endpoint`'s request answered `status` should be sent again: a 401 with a
        login (unless the endpoint expects a 401), which has just been made again."""
        if status != UNAUTHORIZED or self.login is None or status in endpoint.expect_status:
            return False
        self.log_in()
        return True

    def expand(self, endpoint: Endpoint) -> list[Endpoint]:
        """The endpoint's concrete requests, with this instance's values and cookies."""
        return endpoint.expand(self.values, self.cookies)

    def reset(self, endpoints: Sequence[Endpoint]) -> None:
        """Run the `reset:` command of each endpoint that has one, in the app's folder."""
        for endpoint in endpoints:
            if endpoint.reset:
                self._reset(endpoint.name, endpoint.reset)

    def _reset(self, name: str, command: str) -> None:
        try:
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", command], cwd=self.folder,
                env={**os.environ, **self.env}, capture_output=True, text=True,
                timeout=RESET_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise MeasurementError(
                f"endpoint {name!r}: its reset command ran over {RESET_TIMEOUT_S:g} s",
                "make endpoints[].reset quicker",
            ) from None
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise MeasurementError(
                f"endpoint {name!r}: its reset command exited with {done.returncode}",
                "fix endpoints[].reset (it runs in the app's folder, before each trial)",
                log_tail=tail,
                log_name="reset output",
            )

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: str | None
    ) -> tuple[int, http.client.HTTPMessage, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            return response.status, response.headers, text
        except (OSError, http.client.HTTPException) as exc:
            raise MeasurementError(
                f"login: {method} {path} got no answer ({exc})", "read the app log below"
            ) from None
        finally:
            connection.close()


def _cookies(headers: http.client.HTTPMessage) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in headers.get_all("Set-Cookie") or []:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        found.update({name: morsel.value for name, morsel in jar.items()})
    return found


def _extract(login: Login, body: str) -> dict[str, str]:
    if not login.extract:
        return {}
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise MeasurementError(
            f"login: {login.method} {login.path} did not answer JSON, so login.extract "
            f"cannot read it: {_excerpt(body)!r}",
            "check login.path, or drop login.extract if the login only sets cookies",
        ) from None
    values = {}
    for name, dotted in login.extract.items():
        node = data
        for part in dotted.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                keys = ", ".join(map(str, node)) if isinstance(node, dict) else type(node).__name__
                raise MeasurementError(
                    f"login: login.extract.{name} = {dotted!r}: no {part!r} in the answer of "
                    f"{login.method} {login.path} (found: {keys})",
                    "write the dotted path of the value in the login's JSON answer",
                )
        if isinstance(node, dict | list) or node is None:
            raise MeasurementError(
                f"login: login.extract.{name} = {dotted!r} is not a string or a number",
                "point login.extract at the token itself",
            )
        values[name] = str(node)
    return values


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS] + "..."
