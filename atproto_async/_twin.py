"""Mutable twins: how frozen slotted classes are built quickly on the hot paths.

Generated models (``from_dict``) and firehose events are frozen attrs classes. Rather than
calling their ``__init__``, the hot paths fill an instance of a *twin* class with plain
attribute stores and then give it the real class (`mutable_twin` explains why that is the
same instance, faster). This module is small and imports nothing, so that the stream modules
can use it without loading the model runtime.
"""

from __future__ import annotations

from typing import Any, cast

__all__ = ["TwinCache", "mutable_twin"]


class TwinCache(dict[type, type]):
    """``TWINS[cls]``: the mutable twin of a frozen slotted class, made on first use."""

    def __missing__(self, cls: type) -> type:
        twin = self[cls] = mutable_twin(cls)
        return twin


def mutable_twin(cls: type) -> type:
    """Return a class whose instances can be filled field by field and then become ``cls``.

    ``from_dict`` is on the firehose hot path, and attrs' ``__init__`` of a frozen class sets
    each field through ``object.__setattr__`` after parsing keyword arguments. ``from_dict``
    instead makes an empty instance of the twin (``twin()``: a class call costs less than
    ``object.__new__(twin)``), stores every field as a plain
    attribute (the interpreter's fastest store: the twin has no ``__setattr__`` of its own),
    then assigns ``instance.__class__ = cls``. Python allows that assignment between classes of
    the same layout, so the result is exactly the instance attrs would build (same class and
    values; frozen, equal, hashable and picklable) in well under half the time. ``from_dict``
    must set every field, defaults included, as ``__init__`` would.

    The twin of a slotted class is a sibling with the same bases and slots. That needs a class
    without a ``__weakref__`` slot (CPython then refuses the assignment): generated models have
    none. For any other class (a user's subclass of a model, say) the twin is a subclass of
    ``cls`` that adds nothing but bypasses the frozen ``__setattr__``: slower, always valid.

    Args:
        cls: A frozen attrs class (a generated model, an event).

    Returns:
        The twin class. `TwinCache` (``atproto_async._model.TWINS``) keeps one per class.
    """
    name = f"{cls.__name__}Twin"
    slots = cls.__dict__.get("__slots__")
    if isinstance(slots, tuple) and "__weakref__" not in slots:
        sibling = type(name, cls.__bases__, {"__slots__": slots, "__module__": cls.__module__})
        if cast(Any, sibling).__setattr__ is object.__setattr__:
            probe: Any = sibling()
            try:
                probe.__class__ = cls
            except TypeError:
                pass  # a layout Python does not consider the same: use the subclass below
            else:
                return sibling
    namespace = {
        "__slots__": (),
        "__init__": object.__init__,  # twins are made empty: twin() then every field stored
        "__setattr__": object.__setattr__,
        "__module__": cls.__module__,
    }
    return type(name, (cls,), namespace)
