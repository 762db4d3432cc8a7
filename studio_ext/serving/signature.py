"""The model signature's input check on a request's rows, by MLflow's schema enforcement rules.

MLflow's pyfunc ``predict`` enforces a column-based signature
(``mlflow.models.utils._enforce_schema``): each required column must hold values of
its type, and only safe conversions pass (an integer for a double, not a boolean).
A no-code deployment scores with the model's own ``predict`` on a matrix, so this
module applies those rules to the JSON values of the request, and refuses what a
column cannot take with a 400 naming the column and the row:

==================  ============================================
column type         JSON values it takes
==================  ============================================
double, float       numbers (not ``true``/``false``)
long, integer       whole numbers (``3`` or ``3.0``, not ``3.5``)
boolean             ``true``/``false``
string, binary,     strings
datetime
==================  ============================================

``null`` only in a column the signature marks optional (``"required": false``).
Columns of other types (arrays, objects, maps) and tensor signatures are left to
the model. The common case costs one pass over the values' types (in C, about
20 ns a value, as much again as building the matrix); the row-by-row search runs
only when a value is refused.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from studio_ext.serving.http_protocol import HttpError

_FLOATS = frozenset({float, int})
_TAKES: dict[str, tuple[frozenset[type], str]] = {
    "double": (_FLOATS, "a number"), "float": (_FLOATS, "a number"),
    "long": (_FLOATS, "a whole number"), "integer": (_FLOATS, "a whole number"),
    "boolean": (frozenset({bool}), "true or false"),
    "string": (frozenset({str}), "a string"), "binary": (frozenset({str}), "a string"),
    "datetime": (frozenset({str}), "a string"),
}
_WHOLE = frozenset({"long", "integer"})


class SignatureCheck:
    """The input columns of a signature, checked on rows given in the signature's column order."""

    def __init__(self, columns: list[dict[str, Any]]) -> None:
        self.names = [str(c["name"]) for c in columns]
        self.types = [str(c["type"]) for c in columns]
        self.required = [c.get("required", True) is not False for c in columns]
        checked = [t for t in self.types if t in _TAKES]
        # What every checked column takes: the common case passes on this alone.
        self._all_take = frozenset.intersection(*(_TAKES[t][0] for t in checked)) if checked else frozenset()
        self._whole = any(t in _WHOLE for t in self.types)
        self._checked = bool(checked)

    @classmethod
    def of(cls, signature: dict[str, Any] | None) -> SignatureCheck | None:
        """The check for a column-based signature with named inputs; None for none or a tensor signature."""
        inputs = (signature or {}).get("inputs")
        if not isinstance(inputs, list) or not inputs:
            return None
        if not all(isinstance(c, dict) and c.get("name") and isinstance(c.get("type"), str) and c["type"] != "tensor"
                   for c in inputs):
            return None
        return cls(inputs)

    def check(self, rows: list[Any]) -> None:
        """Raise a 400 naming the first column and row whose value the signature refuses.

        Rows that are not lists of one value per column are left to the matrix
        building, which says what shape it wanted.
        """
        if not self._checked or not rows:
            return
        if len(self.names) == 1 and type(rows[0]) is not list:
            rows = [[v] for v in rows]  # one column given as a flat list of values
        try:
            types = set(map(type, itertools.chain.from_iterable(rows)))
        except TypeError:
            return  # rows that are not lists: the matrix building says what shape it wanted
        if types <= self._all_take and not (self._whole and float in types):
            return
        self._find(rows)

    def _find(self, rows: list[Any]) -> None:
        width = len(self.names)
        for i, row in enumerate(rows):
            if type(row) is not list or len(row) != width:
                continue
            for name, kind, required, value in zip(self.names, self.types, self.required, row):
                if kind not in _TAKES:
                    continue
                if value is None:
                    if required:
                        raise HttpError(400, f"The column '{name}' is required by the model's signature; "
                                             f"row {i + 1} has null. Send a {kind} value.")
                    continue
                takes, what = _TAKES[kind]
                if type(value) not in takes or (kind in _WHOLE and type(value) is float and not value.is_integer()):
                    shown = json.dumps(value)
                    shown = shown if len(shown) <= 40 else shown[:37] + "..."
                    raise HttpError(400, f"The column '{name}' must be {what} ({kind} in the model's signature); "
                                         f"row {i + 1} has {shown}.")
