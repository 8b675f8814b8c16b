"""Twilio's REST API for calls: create, look up, update (hang up, new markup).

Form-encoded requests with HTTP Basic auth (`AccountSid:AuthToken`) under
`{api_base}/2010-04-01/Accounts/{AccountSid}/`. Creating a call has no idempotency key, so a
create whose answer was lost (a timeout) must not be sent again: `find_recent` looks the call up
by its numbers instead, and the caller decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

#: Twilio's "resource not found": updating a call that is already over.
NOT_FOUND = 20404


class TwilioError(Exception):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio said {status} (code {code}): {message}")
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class CallResource:
    sid: str
    status: str
    to: str = ""
    from_: str = ""
    date_created: str = ""


class TwilioRest:
    def __init__(self, client: httpx.AsyncClient, api_base: str, account_sid: str, auth_token: str) -> None:
        self.client = client
        self.base = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}"
        self.auth = httpx.BasicAuth(account_sid, auth_token)

    async def create_call(self, params: list[tuple[str, str]]) -> CallResource:
        return _call(await self._request("POST", "/Calls.json", form=params))

    async def find_recent(self, to: str, from_: str) -> list[CallResource]:
        """Calls to `to` from `from_`, newest first (Twilio's default order)."""
        body = await self._request("GET", "/Calls.json", params={"To": to, "From": from_, "PageSize": "20"})
        return [_call(c) for c in body.get("calls", [])]

    async def update_call(self, sid: str, params: list[tuple[str, str]]) -> CallResource:
        return _call(await self._request("POST", f"/Calls/{sid}.json", form=params))

    async def hang_up(self, sid: str) -> None:
        """End the call whatever its state (`completed` also cancels one still ringing); a call
        that is already over is fine."""
        try:
            await self.update_call(sid, [("Status", "completed")])
        except TwilioError as exc:
            if exc.code != NOT_FOUND:
                raise

    async def _request(
        self,
        method: str,
        path: str,
        *,
        form: list[tuple[str, str]] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        # A form with a repeated name (StatusCallbackEvent): encoded here, httpx takes only dicts.
        content = urlencode(form) if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else None
        response = await self.client.request(
            method, self.base + path, auth=self.auth, content=content, params=params, headers=headers
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise TwilioError(response.status_code, body.get("code"), str(body.get("message", response.text)))
        return body if isinstance(body, dict) else {}


def _call(body: dict[str, Any]) -> CallResource:
    return CallResource(
        str(body["sid"]),
        str(body.get("status", "")),
        str(body.get("to", "")),
        str(body.get("from", "")),
        str(body.get("date_created", "")),
    )
