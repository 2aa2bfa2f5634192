"""Presentation contexts that are cheap to copy for every association.

pynetdicom's acceptor deep-copies the server's supported contexts for each new association.
The SCP negotiates every storage class with every transfer syntax it knows (so an unsupported
class gets an explicit 0x0122 status instead of a silent context rejection): 170 contexts of
45 transfer syntaxes each. ``copy.deepcopy`` of that list took 60-180 ms of interpreter time per
association here (bench/ingest.py, py-spy on the SCP), all of it under the GIL, which capped
a modality that opens one association per study at a handful of studies per second.

The copy only has to give each association its own context objects (negotiation writes
``context_id``, ``result`` and the role fields); the UIDs inside are immutable ``str``
subclasses and can be shared. ``FastCopyContext`` copies exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynetdicom.presentation import PresentationContext


class FastCopyContext(PresentationContext):
    """A ``PresentationContext`` whose deep copy shares its immutable UIDs."""

    def __deepcopy__(self, memo: dict[int, Any]) -> FastCopyContext:
        clone = FastCopyContext.__new__(FastCopyContext)
        clone.__dict__.update(self.__dict__)
        clone._transfer_syntax = list(self._transfer_syntax)
        memo[id(self)] = clone
        return clone


def fast_copy_contexts(contexts: Iterable[PresentationContext]) -> list[PresentationContext]:
    """The same contexts (same attribute values) as ``FastCopyContext`` objects."""
    converted: list[PresentationContext] = []
    for context in contexts:
        fast = FastCopyContext.__new__(FastCopyContext)
        fast.__dict__.update(context.__dict__)
        fast._transfer_syntax = list(context._transfer_syntax)
        converted.append(fast)
    return converted
