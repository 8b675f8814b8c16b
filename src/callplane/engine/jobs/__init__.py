"""Durable background work: the worker and what it runs (dispatch, feed, reap, post-call, relay)."""
