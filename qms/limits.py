"""输入上限 — how long a text may be, checked for every save of the product's models.

The numbers are data (``rules/limits.toml``, this product's defaults with their reasons; a
deployment overrides any of them with the file named by ``settings.QMS_LIMITS_FILE``). They
are enforced in one place so that no service can forget them: each app's ``ready()`` calls
``guard(self)``, which connects a ``pre_save`` receiver to every model of the app. The
receiver raises ``ValidationError({field: "「地点」最多100个字,现为100000个字"})`` before
the row is written, so the service's transaction rolls back and the view shows the sentence
as it shows any other refusal. SQLite does not enforce a CharField's ``max_length``, so the
same check covers the database's column width too. Record elements (JSON) are checked by
``check_elements``, called where workflows cleans them.

Only fields being written are checked (``update_fields``), so a row stored before a limit
was lowered still moves through its states.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models.signals import pre_save

_FILE = Path(__file__).resolve().parent / "rules" / "limits.toml"


@dataclass(frozen=True, eq=False)  # hashed by identity: one per loaded file
class Limits:
    kinds: dict[str, int]  # kind → characters (0: no limit of its own)
    labels: dict[str, str]
    by_type: dict[str, str]  # model field class name → kind
    fields: dict[str, str]  # "app.Model.field" → kind
    elements: dict[str, str]  # record form field type → kind
    archive: dict[str, Any]
    roster: dict[str, Any]
    upload: dict[str, Any]


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@cache
def _load(override: str | None, _stamp: tuple[int, int] | None = None) -> Limits:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))
    if override:
        data = _merge(data, tomllib.loads(Path(override).read_text(encoding="utf-8")))
    text = data["text"]
    kinds = {k: v for k, v in text.items() if isinstance(v, dict) and "value" in v}
    named = {**text["by_type"], **text.get("fields", {}), **text.get("record_elements", {})}
    unknown = sorted({f"{k} = {v!r}" for k, v in named.items() if v not in kinds})
    if unknown:  # refused when the file is read, not at some user's save
        raise ImproperlyConfigured(f"limits: unknown text kind in {override or _FILE}: {', '.join(unknown)}")
    return Limits(
        kinds={k: int(v["value"]) for k, v in kinds.items()},
        labels={k: v["label"] for k, v in kinds.items()},
        by_type=dict(text["by_type"]),
        fields=dict(text.get("fields", {})),
        elements=dict(text.get("record_elements", {})),
        archive=dict(data["archive"]),
        roster=dict(data.get("roster", {})),
        upload=dict(data.get("upload", {})),
    )


def table() -> Limits:
    """The effective limits: the shipped file, overridden by ``settings.QMS_LIMITS_FILE``."""
    path = getattr(settings, "QMS_LIMITS_FILE", None) or None
    if path is None:
        return _load(None)
    st = Path(path).stat()  # an edited file is read again
    return _load(path, (st.st_mtime_ns, st.st_size))


def too_long(label: str, value: Any, limit: int) -> str | None:
    """The sentence a user reads when ``value`` is longer than ``limit`` characters."""
    if limit and isinstance(value, str) and len(value) > limit:
        return f"「{label}」最多{limit}个字,现为{len(value)}个字"
    return None


def _kind_of(field: models.Field, limits: Limits) -> str | None:
    key = f"{field.model._meta.app_label}.{field.model.__name__}.{field.name}"
    if key in limits.fields:
        return limits.fields[key]
    for cls in type(field).__mro__:  # FSMField, EmailField … count as their CharField base
        if cls.__name__ in limits.by_type:
            return limits.by_type[cls.__name__]
    return None


@cache
def _model_limits(model: type[models.Model], limits: Limits) -> tuple[tuple[str, str, Any, int], ...]:
    """(name, attname, verbose name, limit) for every text field of the model that has one."""
    out = []
    for f in model._meta.concrete_fields:
        if not isinstance(f, (models.CharField, models.TextField, models.JSONField)) or f.choices:
            continue  # a field with choices holds one of the product's codes, not free text
        kind = _kind_of(f, limits)  # a JSONField only when named in the data file
        if kind is None:
            continue
        caps = [n for n in (limits.kinds[kind], f.max_length if isinstance(f, models.CharField) else None) if n]
        if caps:
            out.append((f.name, f.attname, f.verbose_name, min(caps)))  # lazy: read in the request's language
    return tuple(out)


def _longest(value: Any) -> str | None:
    """The longest string anywhere in a JSON value (lists of 5-why answers, checklist items)."""
    if isinstance(value, str):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return max((s for s in map(_longest, items) if s is not None), key=len, default=None)


def field_limit(model: type[models.Model], name: str) -> int | None:
    """A field's effective limit in characters (None: none)."""
    return next((n for fname, _a, _l, n in _model_limits(model, table()) if fname == name), None)


def check_instance(instance: models.Model, update_fields: Iterable[str] | None = None) -> None:
    """Refuse a save whose text is too long, naming each field by its Chinese name."""
    only = set(update_fields) if update_fields is not None else None
    errors = {}
    for name, attname, label, limit in _model_limits(type(instance), table()):
        if only is not None and name not in only and attname not in only:
            continue
        msg = too_long(str(label), _longest(getattr(instance, attname, None)), limit)
        if msg:
            errors[name] = msg
    if errors:
        raise ValidationError(errors)


def _on_pre_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if not raw:  # fixtures load as they are
        check_instance(instance, update_fields)


def guard(app_config) -> None:
    """Connect the check to every model of an app (called from the app's ``ready()``)."""
    for model in app_config.get_models():
        pre_save.connect(_on_pre_save, sender=model, weak=False, dispatch_uid=f"qms.limits.{model._meta.label}")


def check_elements(fields: Iterable[tuple[str, str, str]], values: dict[str, Any]) -> None:
    """记录栏目 — each text element of a record within its kind's limit.

    ``fields`` is (key, label, form field type); elements of a type not in the data file are
    not text and are not checked here."""
    limits = table()
    errors = {}
    for key, label, ftype in fields:
        kind = limits.elements.get(str(ftype))
        if kind is None or key not in values:
            continue
        msg = too_long(label, values[key], limits.kinds[kind])
        if msg:
            errors[key] = msg
    if errors:
        raise ValidationError(errors)
