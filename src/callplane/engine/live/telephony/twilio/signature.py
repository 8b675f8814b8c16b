"""X-Twilio-Signature: how callplane knows a callback really comes from the carrier.

Twilio signs each request with the account's auth token: `base64(HMAC-SHA1(token, url + k1 + v1
+ k2 + v2 …))`, the URL exactly as Twilio requested it (query string included) and, for a form
body, every parameter sorted by name (a repeated name contributes each value in order). A JSON
body is not part of that string: Twilio adds `bodySHA256` (hex SHA-256 of the body) to the URL's
query instead, so the URL signature covers the body's hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

Params = Iterable[tuple[str, str]]


def sign(auth_token: str, url: str, params: Params = ()) -> str:
    payload = url + "".join(k + v for k, v in sorted(params, key=lambda kv: kv[0]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid_form(auth_token: str, url: str, params: Params, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(auth_token, url, params), signature)


def valid_json(auth_token: str, url: str, body: bytes, signature: str | None) -> bool:
    """A JSON body: the URL (with its `bodySHA256`) is signed, and the body must match that hash."""
    query = dict(parse_qsl(urlsplit(url).query))
    claimed = query.get("bodySHA256")
    if claimed is None or not valid_form(auth_token, url, (), signature):
        return False
    return hmac.compare_digest(hashlib.sha256(body).hexdigest(), claimed)
