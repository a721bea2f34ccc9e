"""Keep secrets out of everything perfgate prints or writes.

A value is secret when app.secret_env names its variable, or when the variable's name looks like
a credential (TOKEN, SECRET, PASSWORD, API_KEY, ...), in app.env or in perfgate's own environment
(which the app inherits). Each such value is replaced by `***` in error messages, log tails,
reports, results and the copy of the app log perfgate keeps. So is every value thresholds.yaml
took from the environment (`${VAR}`, unless `public:` names it), and every value a login gave
(its extracted values and cookies), from the moment perfgate learns it.
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


# Values learned while measuring (a login's token, its cookies): known only once the app has
# answered, in whichever phase and for whichever side, and masked from then on by every Redactor
# of the process, so the error a later phase ends with is masked too.
_LEARNED: set[str] = set()


def remember(values: Iterable[str]) -> None:
    """Mask `values` in everything perfgate prints or writes from now on."""
    _LEARNED.update(_forms(values))


def _forms(secrets: Iterable[str]) -> set[str]:
    values = {s for s in secrets if len(s) >= MIN_SECRET_LEN}
    # JSON files hold the escaped form of a value with quotes or backslashes in it.
    return values | {json.dumps(s)[1:-1] for s in values}


class Redactor:
    """Callable text -> text with every known secret value masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._own = _forms(secrets)
        self._known = -1  # how many learned values self.secrets includes
        self.secrets: list[str] = []

    @classmethod
    def for_app(
        cls,
        app: AppConfig | None,
        environ: Mapping[str, str] | None = None,
        filled: Iterable[str] = (),
    ) -> Redactor:
        """The secrets of the app's environment, and the values `filled` in from it."""
        environ = os.environ if environ is None else environ
        merged = {**environ, **(app.env if app else {})}
        named = set(app.secret_env) if app else set()
        secrets = [v for k, v in merged.items() if k in named or SECRET_NAME.search(k)]
        return cls([*secrets, *filled])

    def __call__(self, text: str) -> str:
        if self._known != len(_LEARNED):
            self._known = len(_LEARNED)
            self.secrets = sorted(self._own | _LEARNED, key=len, reverse=True)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
