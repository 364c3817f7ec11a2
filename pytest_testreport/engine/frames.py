"""Batches of results as compact bytes: what the pytest process keeps (ledger.py) and pipes.

Pickling the model objects as they are cost the pytest process more than building them: each
dataclass is reduced through its ``__dict__``, which Python 3.11+ makes for the occasion (a
dict per object, pickled with its keys, and garbage that brings collections sooner). A result
pickled as a row of plain values (its fields in declaration order, read in C by
``attrgetter``) costs less: ~6 instead of ~8 µs per result for objects pickled before, and far
less for fresh ones (docs/benchmark.md); the delivery process rebuilds the objects with their
constructors. Only exact model classes become rows: a
subclass, or a value a hook put in place of a model object, is pickled as it is.
"""

from __future__ import annotations

import pickle
from dataclasses import fields
from operator import attrgetter
from typing import Any, Callable, Union

from ..model import Failure, FixtureRun, LogEntry, Step, TestId, TestResult, TestStart

Item = Union[TestResult, TestStart]
_RESULT, _START = 0, 1  # a row's first element: which class it rebuilds


def _getter(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """The field values of a ``cls`` object, in its constructor's positional order."""
    return attrgetter(*(f.name for f in fields(cls)))


def _index(cls: type, name: str) -> int:
    return [f.name for f in fields(cls)].index(name)


_FLAT = {cls: _getter(cls) for cls in (TestId, Failure, Step, FixtureRun, LogEntry)}
_RESULT_VALUES, _START_VALUES = _getter(TestResult), _getter(TestStart)
_RESULT_TEST, _START_TEST = _index(TestResult, "test"), _index(TestStart, "test")
# The list fields of a result holding model objects, with their class.
_RESULT_LISTS = tuple(
    (_index(TestResult, name), cls)
    for name, cls in (("failures", Failure), ("steps", Step), ("fixtures", FixtureRun),
                      ("logs", LogEntry))
)  # fmt: skip


def _flat(value: Any) -> Any:
    """A model object as the tuple of its fields; anything else as it is."""
    get = _FLAT.get(type(value))
    return get(value) if get is not None else value


def _row(item: Any) -> Any:
    kind = type(item)
    if kind is TestResult:
        values = list(_RESULT_VALUES(item))
        values[_RESULT_TEST] = _flat(values[_RESULT_TEST])
        for i, _cls in _RESULT_LISTS:
            many = values[i]
            if many and type(many) is list:  # most results have none: nothing to do
                values[i] = [_flat(value) for value in many]
        return (_RESULT, values)
    if kind is TestStart:
        values = list(_START_VALUES(item))
        values[_START_TEST] = _flat(values[_START_TEST])
        return (_START, values)
    return item


def pack(items: list[Item]) -> bytes:
    """A batch of results and starts as bytes (``unpack`` reads them back)."""
    return pickle.dumps([_row(item) for item in items], protocol=pickle.HIGHEST_PROTOCOL)


def _one(cls: type, value: Any) -> Any:
    return cls(*value) if type(value) is tuple else value


def _result(values: list[Any]) -> TestResult:
    values[_RESULT_TEST] = _one(TestId, values[_RESULT_TEST])
    for i, cls in _RESULT_LISTS:
        many = values[i]
        if many and type(many) is list:
            values[i] = [cls(*v) if type(v) is tuple else v for v in many]
    return TestResult(*values)


def _start(values: list[Any]) -> TestStart:
    values[_START_TEST] = _one(TestId, values[_START_TEST])
    return TestStart(*values)


def unpack(data: bytes) -> list[Item]:
    """The results and starts ``pack`` was given, as equal objects."""
    items = pickle.loads(data)
    for n, row in enumerate(items):
        if type(row) is tuple:
            items[n] = _result(row[1]) if row[0] == _RESULT else _start(row[1])
    return items
