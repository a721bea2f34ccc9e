"""Keep secrets out of everything perfgate prints or writes.

A value is secret when app.secret_env names its variable, or when the variable's name looks like
a credential (TOKEN, SECRET, PASSWORD, API_KEY, ...), in app.env or in perfgate's own environment
(which the app inherits). Each such value is replaced by `***` in error messages, log tails,
reports, results and the copy of the app log perfgate keeps.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping

from perfgate.config import AppConfig

MASK = "***"
# Shorter values would mask ordinary words and numbers all over the output.
MIN_SECRET_LEN = 4
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE_?KEY|CREDENTIAL|SESSION_?KEY",
    re.IGNORECASE,
)


class Redactor:
    """Callable text -> text with every known secret value masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if len(s) >= MIN_SECRET_LEN}
        # JSON files hold the escaped form of a value with quotes or backslashes in it.
        values |= {json.dumps(s)[1:-1] for s in values}
        self.secrets = sorted(values, key=len, reverse=True)

    @classmethod
    def for_app(cls, app: AppConfig | None, environ: Mapping[str, str] | None = None) -> Redactor:
        environ = os.environ if environ is None else environ
        merged = {**environ, **(app.env if app else {})}
        named = set(app.secret_env) if app else set()
        secrets = [v for k, v in merged.items() if k in named or SECRET_NAME.search(k)]
        return cls(secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
