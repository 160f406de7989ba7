"""The real service's error shapes and the checks that raise them.

An ``error`` event carries ``error {type, code, message, param, event_id}`` (section 9 of
the reference). Wording follows the OpenAI API's usual phrasing ("Missing required
parameter: 'item.type'.", "Invalid type for 'x': expected …"); where the reference gives
no wording the text here is our own (see the mock docs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class MockError(Exception):
    """A client event the mock refuses; becomes an ``error`` event."""

    def __init__(self, code: str | None, message: str, param: str | None = None,
                 error_type: str = INVALID_REQUEST) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.error_type = error_type

    def body(self, client_event_id: str | None) -> dict[str, Any]:
        """The ``error`` object of the event."""
        return {"type": self.error_type, "code": self.code, "message": self.message,
                "param": self.param, "event_id": client_event_id}


_JSON_TYPE_NAMES = {
    str: "a string", bool: "a boolean", int: "an integer", float: "a number",
    list: "an array", dict: "an object", type(None): "null",
}


def json_type_name(value: Any) -> str:
    """How the API names a JSON value's type in messages."""
    if isinstance(value, bool):
        return "a boolean"
    return _JSON_TYPE_NAMES.get(type(value), "an unknown type")


def missing(param: str) -> MockError:
    return MockError("missing_required_parameter", f"Missing required parameter: '{param}'.",
                     param)


def unknown_parameter(param: str) -> MockError:
    return MockError("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def invalid_type(param: str, expected: str, value: Any) -> MockError:
    return MockError("invalid_type", f"Invalid type for '{param}': expected {expected}, but got "
                     f"{json_type_name(value)} instead.", param)


def invalid_value(param: str | None, value: Any, supported: Iterable[str] | None = None,
                  message: str | None = None) -> MockError:
    if message is None:
        shown = value if isinstance(value, str | int | float) else json_type_name(value)
        message = f"Invalid value: '{shown}'."
        if supported is not None:
            options = [f"'{s}'" for s in supported]
            listed = ", ".join(options[:-1]) + (f", and {options[-1]}" if len(options) > 1
                                                else options[0])
            message += f" Supported values are: {listed}."
    return MockError("invalid_value", message, param)


def check_keys(obj: dict[str, Any], allowed: Iterable[str], prefix: str) -> None:
    """Reject the first key not in ``allowed`` (the API refuses unknown parameters)."""
    allowed = set(allowed)
    for key in obj:
        if key not in allowed:
            raise unknown_parameter(f"{prefix}{key}")


_ABSENT = object()


def _present(obj: dict[str, Any], key: str, param: str, required: bool,
             nullable: bool) -> Any:
    """The field's value, or ``_ABSENT`` when missing (or null and nullable)."""
    if key not in obj:
        if required:
            raise missing(param)
        return _ABSENT
    value = obj[key]
    return _ABSENT if value is None and nullable else value


def _typed(obj: dict[str, Any], key: str, param: str, kind: type, what: str,
           required: bool, nullable: bool) -> Any:
    value = _present(obj, key, param, required, nullable)
    if value is _ABSENT:
        return None
    if not isinstance(value, kind):
        raise invalid_type(param, what, value)
    return value


def want_str(obj: dict[str, Any], key: str, param: str, *, required: bool = False,
             nullable: bool = False) -> str | None:
    """A string field, type-checked."""
    return _typed(obj, key, param, str, "a string", required, nullable)


def want_int(obj: dict[str, Any], key: str, param: str, *, required: bool = False,
             minimum: int | None = None, nullable: bool = False) -> int | None:
    """An integer field, type-checked (floats with an integer value pass)."""
    value = _present(obj, key, param, required, nullable)
    if value is _ABSENT:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    if minimum is not None and value < minimum:
        raise MockError("integer_below_min_value", f"Invalid '{param}': integer below minimum "
                        f"value. Expected a value >= {minimum}, but got {value} instead.", param)
    return value


def want_number(obj: dict[str, Any], key: str, param: str, *, low: float | None = None,
                high: float | None = None) -> float | None:
    """A number field, type-checked and range-checked."""
    if key not in obj:
        return None
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(param, "a number", value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise MockError("decimal_out_of_range" if isinstance(value, float) else
                        "integer_out_of_range", f"Invalid '{param}': {value} is out of range. "
                        f"Expected a value between {low} and {high}.", param)
    return float(value)


def want_bool(obj: dict[str, Any], key: str, param: str) -> bool | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


def want_obj(obj: dict[str, Any], key: str, param: str, *, required: bool = False,
             nullable: bool = False) -> dict[str, Any] | None:
    """An object field, type-checked."""
    return _typed(obj, key, param, dict, "an object", required, nullable)


def want_list(obj: dict[str, Any], key: str, param: str, *,
              required: bool = False) -> list[Any] | None:
    """An array field, type-checked."""
    return _typed(obj, key, param, list, "an array", required, False)


def want_enum(obj: dict[str, Any], key: str, param: str, choices: Iterable[str], *,
              nullable: bool = False) -> str | None:
    choices = list(choices)
    value = want_str(obj, key, param, nullable=nullable)
    if value is not None and value not in choices:
        raise invalid_value(param, value, choices)
    return value
