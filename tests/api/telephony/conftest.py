"""The Twilio line fixtures (`twilio_line.py`) for every telephony test."""

from tests.api.telephony.twilio_line import either, line, worker_line

__all__ = ["either", "line", "worker_line"]
