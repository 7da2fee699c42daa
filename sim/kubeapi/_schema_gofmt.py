"""Render JSON values the way kube-apiserver's Go code prints them inside error messages.

Clients (kubectl, the Python client, the adapter's own error handling) compare or display these
strings, so ``Invalid value: 300`` must not become ``Invalid value: 300.0`` and a string must be
quoted like Go's ``%q``.
"""

from __future__ import annotations

import json
import math
from typing import Any


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (close enough: JSON escaping of a UTF-8 string)."""
    return json.dumps(text, ensure_ascii=False)


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64 (strconv 'g', shortest): exponent form when exp < -4 or exp >= 6."""
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    shortest = repr(abs(value))
    if "e" in shortest:
        mantissa, _, exp_text = shortest.partition("e")
        exponent = int(exp_text)
        digits = mantissa.replace(".", "").rstrip("0") or "0"
    else:
        int_part, _, frac_part = shortest.partition(".")
        frac_part = frac_part.rstrip("0")
        if int_part != "0":
            exponent = len(int_part) - 1
            digits = (int_part + frac_part).rstrip("0")
        else:
            stripped = frac_part.lstrip("0")
            exponent = -(len(frac_part) - len(stripped)) - 1
            digits = stripped
    if exponent < -4 or exponent >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    point = exponent + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_number(value: int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return go_float(value)


def _go_sharp_v(value: Any) -> str:
    """Go's ``%#v`` for values decoded from JSON into ``interface{}``."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_sharp_v(v) for v in value) + "}"
    if isinstance(value, dict):
        inner = ", ".join(f"{go_quote(str(k))}:{_go_sharp_v(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    return go_quote(str(value))


def go_bad_value(value: Any) -> str:
    """How ``field.Error`` prints its BadValue: strings quoted, numbers bare, nil as "null"."""
    if value is None:
        return '"null"'
    if isinstance(value, bool | int | float):
        return go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    return _go_sharp_v(value)


def go_json(value: Any) -> str:
    """``json.Marshal`` of a scalar enum value (used for non-string supported values)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
