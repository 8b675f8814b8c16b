"""Telephony providers behind one protocol (`provider.py`); `simulated` is built in and the default."""
