"""`{{variable}}` substitution, the contract Vox and Retell prompts use.

Deliberately a strict regex, not a template language: prompts hold no logic. A variable with no
value is left as written, so a missing value shows up in the transcript instead of vanishing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_VARIABLE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")


def render(template: str, variables: Mapping[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables and variables[name] is not None:
            return str(variables[name])
        return match.group(0)

    return _VARIABLE.sub(substitute, template)


def variables_in(template: str) -> set[str]:
    return {m.group(1) for m in _VARIABLE.finditer(template)}
