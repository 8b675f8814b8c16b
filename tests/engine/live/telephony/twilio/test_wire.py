"""Twilio's formats: X-Twilio-Signature, Media Streams messages, TwiML, per-attempt tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import xml.etree.ElementTree as ET

import pytest

from callplane.engine.live.telephony.twilio import markup, signature, switchboard, wire

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]


def test_the_signature_matches_twilios_published_example() -> None:
    # The vector of Twilio's own helper libraries (twilio-python tests/unit/test_request_validator.py).
    assert signature.sign("12345", URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature.valid_form("12345", URL, reversed(PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        (URL, [*PARAMS[:-1], ("To", "+18005551213")], "12345"),  # a tampered parameter
        (URL.replace("foo=1", "foo=2"), PARAMS, "12345"),  # another URL
        (URL, PARAMS, "54321"),  # another account
    ],
)
def test_a_tampered_request_fails(url: str, params: list[tuple[str, str]], token: str) -> None:
    assert not signature.valid_form(token, url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not signature.valid_form("12345", URL, PARAMS, None)


def test_a_json_body_is_signed_through_its_hash_in_the_url() -> None:
    body = b'{"property": "value", "boolean": true}'
    url = f"https://mycompany.com/myapp?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signed = signature.sign("12345", url)
    assert signature.valid_json("12345", url, body, signed)
    assert not signature.valid_json("12345", url, body + b" ", signed)
    assert not signature.valid_json(
        "12345", "https://mycompany.com/myapp", body, signature.sign("12345", url)
    )


def test_media_stream_messages_parse_and_render() -> None:
    start = {
        "event": "start",
        "start": {
            "streamSid": "MZ1",
            "callSid": "CA1",
            "customParameters": {"token": "t"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": "MZ1",
    }
    assert wire.parse(json.dumps(start)) == wire.Start("MZ1", "CA1", {"token": "t"})
    payload = bytes(range(160))
    media = {"event": "media", "media": {"track": "inbound", "payload": base64.b64encode(payload).decode()}}
    assert wire.parse(json.dumps(media)) == wire.Media(payload)
    assert wire.parse('{"event": "mark", "mark": {"name": "u#1"}}') == wire.MarkDone("u#1")
    assert wire.parse('{"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "7"}}') == wire.Digit(
        "7"
    )
    assert wire.parse('{"event": "stop", "stop": {}}') == wire.Stop()
    assert wire.parse('{"event": "something new"}') is None
    with pytest.raises(wire.BadMessage):
        wire.parse('{"event": "media", "media": {"payload": "not base64!"}}')
    assert json.loads(wire.media("MZ1", payload)) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(payload).decode()},
    }
    assert json.loads(wire.mark("MZ1", "u#2")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "u#2"},
    }
    assert json.loads(wire.clear("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


def test_the_markup_connects_a_stream_with_its_parameters() -> None:
    root = ET.fromstring(markup.connect_stream("wss://x.example/telephony/twilio/media", {"token": 'a"<b'}))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://x.example/telephony/twilio/media"
    assert [(p.get("name"), p.get("value")) for p in stream.findall("Parameter")] == [("token", 'a"<b')]
    dial = ET.fromstring(markup.dial("+82212345678", "+827011112222")).find("Dial")
    assert dial is not None and dial.text == "+82212345678" and dial.get("callerId") == "+827011112222"
    assert ET.fromstring(markup.reject()).find("Reject") is not None


def test_a_token_names_its_call_only_with_the_right_key() -> None:
    ticket = switchboard.Ticket("org", "call", 3)
    token = switchboard.issue("secret", ticket)
    assert switchboard.check("secret", token) == ticket
    assert switchboard.check("other", token) is None
    assert switchboard.check("secret", token.replace("call", "cell")) is None
    assert switchboard.check("secret", "garbage") is None
