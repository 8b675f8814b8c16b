"""Vox, the native dialect (seeds 000 and 001). Mapping choices: see `render.py`."""

from __future__ import annotations

from fastapi import APIRouter

from callplane.api.dialects.vox import v2, v3

router = APIRouter()
router.include_router(v3.router)
router.include_router(v2.router)
