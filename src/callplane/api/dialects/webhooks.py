"""The dialects' webhook formats, registered with the engine (`engine/services/webhook_formats.py`).

Called by the app factory and by the CLI before it opens the database; calling it again is
harmless. A format is a dialect's rendering, so it lives with the dialect's other renderers.
"""

from __future__ import annotations

from callplane.api.dialects.retell.webhooks import RetellWebhooks
from callplane.api.dialects.vox.webhooks import VoxWebhooks
from callplane.engine.services.webhook_formats import FORMATS, FormatName


def register() -> None:
    FORMATS.register(FormatName.VOX, VoxWebhooks())
    FORMATS.register(FormatName.RETELL, RetellWebhooks())
