"""Vox, the native dialect (seeds 000 and 001). Mapping choices: see `render.py`."""

from __future__ import annotations

from callplane.api.dialects.vox import campaigns, campaigns_v2, v2, v3

#: Included one by one by the app: every level of router nesting is matched on every request.
routers = (v3.router, v2.router, campaigns.router, campaigns_v2.router)
