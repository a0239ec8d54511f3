"""A fast path for loading request bodies with marshmallow schemas (batch imports above all).

Marshmallow spends a few microseconds per field; a 500-candidate batch with 12 records each
is 40,000 fields. :class:`FastSchema` walks itself once and builds plain checks for the field
types it knows (strings, integers, floats, booleans, nested lists), calling the schema's own
validators. It only ever *accepts*: whenever an item is not plainly valid (a missing required
field, an unknown key, a wrong type, a validator that objects), it hands the item to the
schema's real ``load``, which decides and words the errors. So marshmallow stays the one
definition of what is valid; the tests check that both paths give identical results.

Measured (issue 3): a 500-candidate batch body loads in about 30 ms against 111 ms through
marshmallow alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing

Check = Callable[[Any], Any]


class _Fallback(Exception):
    """The fast path is not sure: let marshmallow decide."""


def _run_validators(field: fields.Field[Any], value: Any) -> None:
    for validator in field.validators:
        try:
            if validator(value) is False:
                raise _Fallback
        except ValidationError as error:
            raise _Fallback from error


def _leaf(field: fields.Field[Any]) -> Check | None:
    """A check for one scalar field, or None when this module does not know the type.

    A field class may say ``fast_as = fields.Integer`` (Float, Boolean, String): it loads every
    value the fast check accepts exactly as that class would (a stricter JSON-only variant).
    """
    kind = getattr(field, "fast_as", type(field))
    if kind in (fields.String, fields.Email):

        def convert(value: Any) -> Any:
            if type(value) is not str:
                raise _Fallback
            return value

    elif kind is fields.Integer:

        def convert(value: Any) -> Any:
            if type(value) is not int:
                raise _Fallback
            return value

    elif kind is fields.Float:
        if getattr(field, "allow_nan", False) or getattr(field, "as_string", False):
            return None

        def convert(value: Any) -> Any:
            if type(value) is not int and type(value) is not float:
                raise _Fallback
            try:
                number = float(value)
            except OverflowError as error:  # an int too large for a float
                raise _Fallback from error
            if not math.isfinite(number):
                raise _Fallback
            return number

    elif kind is fields.Boolean:

        def convert(value: Any) -> Any:
            if value is not True and value is not False:
                raise _Fallback
            return value

    else:
        # Any other field (custom ones included): its own deserialize, validators and all.
        def convert(value: Any) -> Any:
            try:
                return field.deserialize(value)
            except ValidationError as error:
                raise _Fallback from error

        return _nullable(field, convert, validate=False)
    return _nullable(field, convert, validate=True)


def _nullable(field: fields.Field[Any], convert: Check, *, validate: bool) -> Check:
    allow_none = field.allow_none
    has_validators = validate and bool(field.validators)

    def check(value: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise _Fallback
        result = convert(value)
        if has_validators:
            _run_validators(field, result)
        return result

    return check


def _compile_field(field: fields.Field[Any]) -> Check | None:
    if isinstance(field, fields.List):
        inner = _compile_field(field.inner)
        if inner is None:
            return None

        def convert(value: Any) -> Any:
            if type(value) is not list:
                raise _Fallback
            return [inner(item) for item in value]

        return _nullable(field, convert, validate=True)
    if isinstance(field, fields.Nested):
        nested = field.schema
        if field.many or not isinstance(nested, Schema):
            return None
        compiled = _compile_schema(nested)
        if compiled is None:
            return None
        return _nullable(field, compiled, validate=True)
    return _leaf(field)


def _compile_schema(schema: Schema) -> Check | None:
    """A check for a whole schema, or None when it has hooks or partial/unknown settings."""
    if schema._hooks and any(schema._hooks.values()):
        return None
    if schema.partial or schema.unknown != "raise":
        return None
    plan: list[tuple[str, str, Check, bool, Any]] = []
    dump_only: set[str] = set()
    for name, field in schema.fields.items():
        key = field.data_key or name
        if field.dump_only:
            dump_only.add(key)
            continue
        check = _compile_field(field)
        if check is None:
            return None
        plan.append((key, name, check, field.required, field.load_default))
    known = {key for key, *_ in plan}

    def load(data: Any) -> dict[str, Any]:
        if type(data) is not dict:
            raise _Fallback
        for key in data:
            if key not in known:
                raise _Fallback
        result: dict[str, Any] = {}
        for key, name, check, required, default in plan:
            if key in data:
                result[name] = check(data[key])
            elif required:
                raise _Fallback
            elif default is not missing:
                result[name] = default() if callable(default) else default
        return result

    return load


# webargs builds a new schema instance per request: compile once per class and options.
_compiled_plans: dict[tuple[Any, ...], Check | None] = {}


def _compiled_for(schema: Schema) -> Check | None:
    key = (
        type(schema),
        schema.only,
        tuple(sorted(schema.exclude)),
        tuple(sorted(schema.load_only)),
        tuple(sorted(schema.dump_only)),
        schema.partial,
        schema.unknown,
    )
    if key not in _compiled_plans:
        _compiled_plans[key] = _compile_schema(schema)
    return _compiled_plans[key]


class FastSchema(Schema):
    """A schema whose ``load`` tries the compiled fast path first (see the module docstring).

    Calls with ``many``, ``partial`` or ``unknown`` overrides, and schemas the compiler does not
    handle, go straight to marshmallow.
    """

    def load(
        self,
        data: Any,
        *,
        many: bool | None = None,
        partial: Any = None,
        unknown: str | None = None,
    ) -> Any:
        if many is None and partial is None and unknown is None:
            fast = _compiled_for(self)
            if fast is not None:
                try:
                    return fast(data)
                except _Fallback:
                    pass
        return super().load(data, many=many, partial=partial, unknown=unknown)  # type: ignore[arg-type]
