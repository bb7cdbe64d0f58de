"""The garbage collector of a serving worker: what the worker built to start (modules, the
application, its routes and schemas, SQLAlchemy's metadata: about 200,000 objects) is frozen out
of the collector's reach, and the youngest generation is collected ten times less often.

A request allocates and frees many short-lived containers; the collector's youngest generation ran
every 700 of them that were still alive (about 1.4 times per claim and visit, 0.4 ms each), and a full
collection walked every object the worker ever built (about 0.1 s, once in a while, in whatever
request was running).  Frozen objects are still freed by their reference counts; only cycles
among them would wait until the worker ends, and the startup's objects live that long anyway
(docs/decisions/0020-a-workers-heap-is-frozen-after-startup.md)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: The youngest generation's threshold while serving (Python's default is 700).
YOUNG_THRESHOLD = 7000


@contextmanager
def long_lived_heap() -> Iterator[None]:
    """While serving: the objects that exist now frozen (:func:`gc.freeze`, without a collection
    first: at startup there is next to nothing to collect, and a full collection of a test
    process costs a tenth of a second a time), and :data:`YOUNG_THRESHOLD`; both undone at the end,
    so a process that serves an application again (the tests) starts from Python's settings."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
