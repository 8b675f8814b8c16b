"""Twilio Programmable Voice + Media Streams: the first real carrier (and the dialect several
Twilio-compatible carriers speak). `rest.py` places and controls calls, `markup.py` writes TwiML,
`signature.py` checks X-Twilio-Signature, `wire.py` is the media stream's JSON, `line.py` the raw
audio transport over it, `switchboard.py` where callbacks and the media socket find their call."""
