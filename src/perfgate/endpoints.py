"""What perfgate sends: the endpoints and the login of thresholds.yaml, and the concrete requests
they become once the placeholders are known.

A `{name}` placeholder in a path, a header, a body, a `json:` or a `form:` value stands for a
value the login extracted (or found on its `get_first` page) or for one of the endpoint's
`params`. Only names that are known are filled, so the braces of a JSON text in `body:` are left
alone. `expand` turns one endpoint into one concrete request per parameter value, bodies
encoded and the Content-Type set; the measuring code rotates over them, sample by sample.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal, Self
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")  # not a literal ${
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
JsonBody = dict[str, Any] | list[Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Request(Strict):
    """The fields an endpoint and the login share: one HTTP request and how its body is given."""

    method: Method = "GET"
    path: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    # Sent as JSON with Content-Type: application/json, or urlencoded as an HTML form would.
    json_body: JsonBody | None = Field(default=None, alias="json")
    form: dict[str, str | int | float] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with / (a path on the app, query string allowed)")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Request:
        bodies = (("body", self.body), ("json", self.json_body), ("form", self.form))
        given = [k for k, v in bodies if v is not None]
        if len(given) > 1:
            raise ValueError(f"give one of body, json or form (found {', '.join(given)})")
        return self

    def placeholders(self) -> set[str]:
        """The `{name}` placeholders of the path and the headers (where a typo would be sent
        as is, so the config checks each names a known value)."""
        texts = [self.path, *self.headers.values()]
        return {m for t in texts for m in PLACEHOLDER.findall(t)}

    def filled(self, values: Mapping[str, str], cookies: Mapping[str, str] = {}) -> Self:
        """This request with `values` in its placeholders, its body encoded (Content-Type set
        unless given) and the cookies sent; no `json`/`form` left."""
        headers = {k: fill(v, values) for k, v in self.headers.items()}
        body = None if self.body is None else fill(self.body, values)
        content_type = None
        if self.json_body is not None:
            body, content_type = json.dumps(_fill_json(self.json_body, values)), "application/json"
        elif self.form is not None:
            fields = {k: fill(str(v), values) for k, v in self.form.items()}
            body, content_type = urlencode(fields), "application/x-www-form-urlencoded"
        named = {k.lower() for k in headers}
        if content_type and "content-type" not in named:
            headers["Content-Type"] = content_type
        if cookies and "cookie" not in named:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        path = fill(self.path, {k: quote(v, safe="") for k, v in values.items()})
        update = {"path": path, "headers": headers, "body": body, "json_body": None, "form": None}
        return self.model_copy(update=update)


class Endpoint(Request):
    name: str = Field(min_length=1, max_length=100)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    # Values rotated through the samples: request k uses the (k mod n)-th value of every list.
    params: dict[str, list[str | int | float]] = Field(default_factory=dict)
    # A shell command run in the app's folder before each profile trial and each load level
    # (a write endpoint's data put back).
    reset: str | None = None
    # This endpoint's own profile.time_budget_s (seconds of timed requests per side).
    time_budget_s: float | None = Field(default=None, gt=0, le=86_400)

    @field_validator("expect_status", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @model_validator(mode="after")
    def _params(self) -> Endpoint:
        lengths = {len(v) for v in self.params.values()}
        if 0 in lengths:
            raise ValueError("each params list needs at least one value")
        if len(lengths) > 1:
            raise ValueError("params lists must have the same length (the n-th values go together)")
        if self.reset is not None and not self.reset.strip():
            raise ValueError("reset is an empty command")
        return self

    def expand(
        self, values: Mapping[str, str] = {}, cookies: Mapping[str, str] = {}
    ) -> list[Endpoint]:
        """The concrete requests of this endpoint: one per parameter value (one without params),
        each with `values` and its parameter filled in."""
        count = max((len(v) for v in self.params.values()), default=1)
        requests = []
        for i in range(count):
            own = {**values, **{k: str(v[i]) for k, v in self.params.items()}}
            requests.append(self.filled(own, cookies).model_copy(update={"params": {}}))
        return requests


class BasicAuth(Strict):
    username: str
    password: str


class Login(Request):
    """One request per app instance before measuring, whose answer gives the endpoints their
    `{name}` values (by a dotted path into its JSON) and its cookies."""

    method: Method = "POST"
    auth: BasicAuth | None = None
    # None: any status below 400 is a success (a form login answers 302).
    expect_status: list[int] | None = None
    extract: dict[str, str] = Field(default_factory=dict)
    cookies: bool = True
    # A page fetched first (its cookies kept), for a form whose hidden field must be sent back:
    # `find` names a value by a regular expression whose first group is that value.
    get_first: str | None = None
    find: dict[str, str] = Field(default_factory=dict)

    @field_validator("expect_status", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @model_validator(mode="after")
    def _consistent(self) -> Login:
        if self.find and not self.get_first:
            raise ValueError("login.find reads the page of login.get_first: give get_first too")
        if self.get_first and not self.get_first.startswith("/"):
            raise ValueError("login.get_first must start with /")
        for name, pattern in self.find.items():
            try:
                if re.compile(pattern).groups < 1:
                    raise ValueError(f"login.find.{name} needs a group ( ) around the value")
            except re.error as exc:
                raise ValueError(f"login.find.{name} is not a regular expression: {exc}") from None
        for name, path in self.extract.items():
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"login.extract.{name} needs a dotted path such as data.token")
        return self

    @property
    def names(self) -> set[str]:
        """The `{name}` values the login gives the endpoints."""
        return set(self.extract) | set(self.find)

    def ok(self, status: int) -> bool:
        return status in self.expect_status if self.expect_status else status < 400


def unknown_placeholder(endpoints: list[Endpoint], login: Login | None) -> str | None:
    """What is wrong with the endpoints' `{name}` placeholders, if anything."""
    given = login.names if login else set()
    for endpoint in endpoints:
        clash = sorted(given & set(endpoint.params))
        if clash:
            return f"endpoint {endpoint.name!r}: params {', '.join(clash)} also named by login"
        unknown = sorted(endpoint.placeholders() - given - set(endpoint.params))
        if unknown:
            return (
                f"endpoint {endpoint.name!r} uses {{{unknown[0]}}}, which neither login (extract, "
                "find) nor the endpoint's params give (write ${VAR} for an environment variable)"
            )
    return None


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{name}` whose name is in `values` replaced; other braces kept."""
    if "{" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _fill_json(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return fill(node, values)
    if isinstance(node, list):
        return [_fill_json(item, values) for item in node]
    if isinstance(node, dict):
        return {k: _fill_json(v, values) for k, v in node.items()}
    return node
