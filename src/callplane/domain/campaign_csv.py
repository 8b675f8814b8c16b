"""A callee list as CSV → campaign task rows: read the same by the CLI and the dashboard.

The header row names the columns: `to_number` is the callee (Korean domestic digits or E.164),
a `meta.<key>` column goes to the task's metadata, and every other column is a dynamic variable
(an empty cell is no value, so a variable the agent needs is reported missing). A row that
cannot be a task becomes a `RowProblem` in its place (its index is its data row; data row 0 is
line 2 of the file).
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from callplane.domain.campaign import NewTask, RowProblem
from callplane.domain.errors import ValidationFailed
from callplane.domain.phone import parse_any


def read_rows(text: str) -> list[NewTask | RowProblem]:
    """Each data row as a task, or the reason it cannot be one."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "to_number" not in reader.fieldnames:
        raise ValidationFailed.single("csv", "the header row must name a to_number column")
    out: list[NewTask | RowProblem] = []
    for i, raw in enumerate(reader):
        if None in raw:
            out.append(RowProblem(i, "row", "has more cells than the header"))
            continue
        variables: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "to_number" or value is None or value == "":
                continue
            if key.startswith("meta."):
                metadata[key.removeprefix("meta.")] = value
            else:
                variables[key] = value
        try:
            number = parse_any((raw.get("to_number") or "").strip(), "to_number")
        except ValidationFailed as exc:
            out.append(RowProblem(i, "to_number", exc.errors[0].reason))
            continue
        out.append(NewTask(number, variables, metadata))
    return out


def import_key(raw: bytes, fingerprint: str) -> str:
    """The Idempotency-Key of importing `raw` with a draft of this fingerprint: the same file
    with the same options is the same import, however often it is submitted."""
    return "csv:" + hashlib.sha256(raw + b"\0" + fingerprint.encode()).hexdigest()


def line_of(problem: RowProblem) -> int:
    """The file line of a rejected data row (the header is line 1)."""
    return problem.row + 2
