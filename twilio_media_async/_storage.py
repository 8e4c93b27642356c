"""Frozen objects built from plain stores: ``plain_store_builder``.

A frozen slotted class can only be written through its slot descriptors, one slow call
per field.  A class that adds no slot to a plain storage base shares that base's layout,
and CPython lets an object of one be retyped as the other by assigning ``__class__``.  The
builders made here fill a storage object with attribute stores, which CPython specialises
to direct slot writes, and then retype it.  The converter's recordings and their links,
and the bulk methods' results, are built this way on the hot path (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["plain_store_builder"]

_T = TypeVar("_T")


def plain_store_builder(
    name: str,
    storage: type,
    cls: type[_T],
    parameters: Sequence[str],
    fixed: Mapping[str, str] | None = None,
) -> Callable[..., _T]:
    """A function ``name(*parameters)`` that returns a ``cls`` with those field values.

    ``storage`` must hold every field of ``cls``, which must add no slot to it, have no
    validators or converters, and cache no hash (the callers' tests pin this).  ``fixed``
    maps other fields to the source of a constant (``{"error": "None"}``).  The function
    is generated, as attrs generates ``__init__``, so that each store is a plain statement
    and not a loop.
    """
    fields = {**{p: p for p in parameters}, **(fixed or {})}
    lines = [f"def {name}({', '.join(parameters)}):", "    obj = new(storage)"]
    lines += [f"    obj.{field} = {value}" for field, value in fields.items()]
    lines += ["    obj.__class__ = cls", "    return obj"]
    namespace: dict[str, Any] = {"new": object.__new__, "storage": storage, "cls": cls}
    exec(compile("\n".join(lines), f"<{name} of {cls.__name__}>", "exec"), namespace)
    builder: Callable[..., _T] = namespace[name]
    builder.__doc__ = f"A {cls.__name__} of ({', '.join(parameters)}), as its __init__ makes it."
    return builder
