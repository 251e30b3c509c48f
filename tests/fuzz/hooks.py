"""Schemathesis hooks for the merchant API's fuzz test (tests/it/server/fuzz.rs).

Two rules of the API that depend on state, not on the request's shape, would otherwise make
schema-valid requests fail for reasons no schema can state:

- Idempotency-Key: a key already used with another request is answered 422. Every well-formed key
  is replaced by a fresh one just before the request is sent (a malformed one is left, so the
  server's 400 for it is still tested), and the reproducing request shows the key sent.
- starting_after: a page cursor that names no item is answered 400. In a positive case (one that
  should be accepted) a cursor the server never returned is dropped; the ids it did return are
  collected from every answer.
"""

import itertools
import re
import uuid

import schemathesis
from schemathesis.generation import GenerationMode

_RUN = uuid.uuid4().hex[:12]
_KEYS = itertools.count()
_WELL_FORMED_KEY = re.compile(r"[\x20-\x7e]{1,255}")

# Ids the server has answered with, by prefix; refunds with their payment.
_SEEN = {"auth_": set(), "pay_": set(), "atn_": set(), "evt_": set()}
_REFUND_OF = {}


def _collect(item):
    if not isinstance(item, dict):
        return
    ident = item.get("id")
    if not isinstance(ident, str):
        return
    if item.get("object") == "refund":
        _REFUND_OF[ident] = item.get("payment_id")
        return
    for prefix, seen in _SEEN.items():
        if ident.startswith(prefix):
            seen.add(ident)


@schemathesis.hook
def after_call(context, case, response):
    try:
        body = response.json()
    except Exception:
        return
    if isinstance(body, dict):
        _collect(body)
        for item in body.get("data") or []:
            _collect(item)
        for item in body.get("attention") or []:
            _collect(item)


def _cursor_names_an_item(case, cursor):
    path = case.operation.path
    if path == "/v1/authorizations":
        return cursor in _SEEN["auth_"]
    if path == "/v1/payments":
        return cursor in _SEEN["pay_"]
    if path == "/v1/attention":
        return cursor in _SEEN["atn_"]
    if path == "/v1/events":
        return cursor in _SEEN["evt_"]
    if path == "/v1/payments/{id}/refunds":
        return _REFUND_OF.get(cursor) == (case.path_parameters or {}).get("id")
    return True


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        value = headers[name]
        if name.lower() == "idempotency-key" and isinstance(value, str) and _WELL_FORMED_KEY.fullmatch(value):
            headers[name] = f"fuzz-{_RUN}-{next(_KEYS)}"
    meta = case.meta
    positive = meta is not None and meta.generation.mode == GenerationMode.POSITIVE
    query = case.query
    if positive and query and "starting_after" in query:
        if not _cursor_names_an_item(case, query["starting_after"]):
            del query["starting_after"]
