"""The organizers' generated forms: a pydantic model turned into form fields (the phase
config form) and the posted values back into the model's shape (reading a form and its
errors: ``challenge.web.forms``).

Field names are dotted paths into the model's JSON (``config.limits.memory_mb``); a form's
values are the posted strings, kept as typed so a refused form shows them again unchanged.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel


@dataclass
class FieldSpec:
    """One input of a generated form. ``kind``: ``text``, ``number``, ``checkbox``,
    ``select`` or ``list`` (comma-separated strings); ``options`` for a select."""

    name: str
    label: str
    kind: str
    options: list[str] = field(default_factory=list)
    hint: str = ""
    optional: bool = False
    #: A select's option text -> the value it stands for, when not the text (``Literal[1]``).
    typed: dict[str, Any] = field(default_factory=dict)


@dataclass
class FieldGroup:
    """A fieldset of a generated form: its legend and inputs."""

    legend: str
    fields: list[FieldSpec]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``Annotated`` and ``None`` (and whether None was allowed)."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, optional  # e.g. ``str | dict``: free text
            annotation = args[0]
        else:
            return annotation, optional


def _field(name: str, label: str, annotation: Any, hint: str) -> FieldSpec | FieldGroup:
    annotation, optional = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_fields(annotation, name, label)
    if annotation is bool:
        return FieldSpec(name, label, "checkbox", hint=hint)
    if origin is Literal:
        choices = typing.get_args(annotation)
        return FieldSpec(name, label, "select", [str(a) for a in choices], hint, optional,
                         typed={str(a): a for a in choices if not isinstance(a, str)})
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return FieldSpec(name, label, "select", [str(m.value) for m in annotation], hint,
                         optional)
    if origin is list:
        return FieldSpec(name, label, "list", hint=(hint + " " if hint else "")
                         + "(comma-separated)", optional=optional)
    if annotation in (int, float):
        return FieldSpec(name, label, "number", hint=hint, optional=optional)
    return FieldSpec(name, label, "text", hint=hint, optional=optional)


def model_fields(model: type[BaseModel], prefix: str, legend: str) -> FieldGroup:
    """The inputs of ``model``'s fields (nested models flattened into the group, their names
    dotted under ``prefix``), labelled with the field name and its description as the hint."""
    group = FieldGroup(legend, [])
    for key, info in model.model_fields.items():
        made = _field(f"{prefix}.{key}", key.replace("_", " "), info.annotation,
                      info.description or "")
        if isinstance(made, FieldGroup):
            group.fields.extend(made.fields)
        else:
            group.fields.append(made)
    return group


def flat_values(data: dict[str, Any], prefix: str) -> dict[str, str]:
    """A model's JSON dump as form values by dotted name: lists comma-joined, booleans
    ``"on"``/``""``, None as ``""``, a mapping that is a field's value as JSON."""
    values: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict) and key != "metrics":
            values.update(flat_values(value, name))
        elif isinstance(value, dict):
            values[name] = json.dumps(value)
        elif isinstance(value, list):
            values[name] = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            values[name] = "on" if value else ""
        else:
            values[name] = "" if value is None else str(value)
    return values


def nested_values(group: FieldGroup, values: dict[str, str], prefix: str) -> dict[str, Any]:
    """The posted ``values`` of ``group``'s fields as the nested JSON the model validates:
    a checkbox is true when posted, a list splits on commas, an empty optional is None, a
    ``{...}`` text is parsed as JSON (a custom metrics config)."""
    data: dict[str, Any] = {}
    for spec in group.fields:
        raw = values.get(spec.name, "")
        value: Any
        if spec.kind == "checkbox":
            value = spec.name in values and raw != ""
        elif spec.kind == "list":
            value = [part.strip() for part in raw.split(",") if part.strip()]
        elif raw in spec.typed:
            value = spec.typed[raw]
        elif raw.strip() == "" and spec.optional:
            value = None
        elif raw.lstrip().startswith("{"):
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        else:
            value = raw.strip()
        path = spec.name.removeprefix(prefix + ".").split(".")
        target = data
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return data
