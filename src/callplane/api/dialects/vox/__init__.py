"""Vox, the native dialect (seeds 000 and 001). Mapping choices: see `render.py`.

Its routes (`v3.py`, `v2.py`, `campaigns.py`, `campaigns_v2.py`) are included by `api/app.py`,
not imported here: a worker imports this package for the webhook format alone (`webhooks.py`),
and loading the routes cost it half a second of CPU at start-up.
"""
