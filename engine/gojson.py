"""JSON encoding that matches Go's ``encoding/json.Marshal`` byte for byte.

asynq derives unique-task locks from the payload bytes, so a payload built here from a dict must be
the very bytes a Go program would produce from the equivalent ``map[string]any``. Python's ``json``
module differs from Go in key order, spacing, string escaping and float formatting; this module
follows Go in all four:

- output is compact, and object keys are sorted by their UTF-8 bytes;
- strings escape ``"`` and ``\\``, write ``\\n \\r \\t \\b \\f`` for those controls and ``\\u00XX``
  for the other controls, escape ``<``, ``>``, ``&``, U+2028 and U+2029 as ``\\uXXXX``, and write
  all other characters raw in UTF-8. A lone surrogate stands for one byte of invalid UTF-8 (as
  ``surrogateescape`` decoding makes them), which Go writes as ``\\ufffd``;
- floats use Go's shortest representation: plain digits for magnitudes in [1e-6, 1e21), otherwise an
  exponent such as ``1e+21`` or ``1e-7``. NaN and infinities cannot be encoded;
- ints are written as their digits, however large; ``bytes`` and ``bytearray`` become base64 strings,
  as Go encodes ``[]byte``.
"""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal

__all__ = ["go_json_dumps"]

_ESCAPES: dict[str, str] = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update(
    {
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
        '"': '\\"',
        "\\": "\\\\",
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')


def go_json_dumps(value: object) -> bytes:
    """Encode ``value`` exactly as Go's ``json.Marshal`` encodes the equivalent Go value.

    ``dict`` maps to ``map[string]any``, ``list`` and ``tuple`` to ``[]any``, ``str`` to ``string``,
    ``int`` to an integer, ``float`` to ``float64``, ``bool`` to ``bool``, ``None`` to ``nil`` and
    ``bytes``/``bytearray`` to ``[]byte``.

    Args:
        value: the value to encode; containers may nest to any depth.

    Returns:
        The compact JSON text, UTF-8 encoded.

    Raises:
        TypeError: a value has an unsupported type, or a dict key is not a ``str``.
        ValueError: a float is NaN or infinite, or a container contains itself.
    """
    parts: list[str] = []
    _encode(value, parts, set())
    return "".join(parts).encode()


def _encode(value: object, parts: list[str], path: set[int]) -> None:
    """Append the JSON text of ``value`` to ``parts``; ``path`` holds the ids of enclosing containers."""
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_format_float(value))
    elif isinstance(value, bytes | bytearray):
        parts.append(f'"{base64.b64encode(value).decode("ascii")}"')
    elif isinstance(value, dict | list | tuple):
        if id(value) in path:
            raise ValueError(f"cannot encode a {type(value).__name__} that contains itself")
        path.add(id(value))
        if isinstance(value, dict):
            _encode_dict(value, parts, path)
        else:
            _encode_list(value, parts, path)
        path.discard(id(value))
    else:
        raise TypeError(f"cannot encode a value of type {type(value).__name__} as JSON")


def _encode_dict(value: dict[object, object], parts: list[str], path: set[int]) -> None:
    keys: list[tuple[bytes, str]] = []
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
        # Go sorts map keys by their bytes; surrogatepass keeps lone surrogates sortable.
        keys.append((key.encode("utf-8", "surrogatepass"), key))
    keys.sort()
    parts.append("{")
    for index, (_, key) in enumerate(keys):
        if index:
            parts.append(",")
        parts.append(_quote(key))
        parts.append(":")
        _encode(value[key], parts, path)
    parts.append("}")


def _encode_list(value: list[object] | tuple[object, ...], parts: list[str], path: set[int]) -> None:
    parts.append("[")
    for index, item in enumerate(value):
        if index:
            parts.append(",")
        _encode(item, parts, path)
    parts.append("]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    # Any lone surrogate is left over from undecodable bytes; Go writes each such byte as \ufffd.
    return _ESCAPES.get(char, "\\ufffd")


def _quote(text: str) -> str:
    return f'"{_NEEDS_ESCAPE.sub(_escape, text)}"'


def _format_float(value: float) -> str:
    """Format a float as Go's encoding/json does: strconv 'f' or 'e' format with the shortest digits."""
    if not math.isfinite(value):
        raise ValueError(f"cannot encode the float {value!r} as JSON")
    # repr() gives the shortest digits that round-trip, as Go's strconv does with precision -1.
    text = float.__repr__(value)
    if "e" not in text:
        # Plain digits (magnitudes in [1e-4, 1e16), and zero), inside Go's 'f' range: Go writes the
        # same digits without repr's ".0" on whole numbers. The common case, without Decimal,
        # whose first use in a while costs over 100 µs of cold caches on a task's way to Redis.
        return text[:-2] if text.endswith(".0") else text
    shortest = Decimal(text).normalize()
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        return f"{shortest:f}"
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)  # only NaN and infinities have a str exponent
    mantissa = str(digits[0])
    if len(digits) > 1:
        mantissa += "." + "".join(map(str, digits[1:]))
    # Go writes at least two exponent digits, then trims "e-07" to "e-7"; the 'e' format is only
    # used for exponents of 21 and up or -7 and down, so that trimming leaves the plain number.
    return f"{'-' if sign else ''}{mantissa}e{exponent + len(digits) - 1:+d}"
