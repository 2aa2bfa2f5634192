"""The SCP's cheap-to-copy presentation contexts behave as pynetdicom's own under deepcopy."""

from copy import deepcopy

from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
from pynetdicom.presentation import PresentationContext

from workstation.dicom.contexts import FastCopyContext, fast_copy_contexts


def _contexts() -> list[PresentationContext]:
    contexts = []
    for template in AllStoragePresentationContexts[:5]:
        context = PresentationContext()
        context.abstract_syntax = template.abstract_syntax
        context.transfer_syntax = list(ALL_TRANSFER_SYNTAXES)
        contexts.append(context)
    return contexts


def test_fast_copy_keeps_every_attribute_of_the_original_contexts() -> None:
    originals = _contexts()
    fast = fast_copy_contexts(originals)
    assert [vars(c) for c in fast] == [vars(c) for c in originals]
    assert all(isinstance(c, FastCopyContext) for c in fast)


def test_deep_copy_gives_each_association_its_own_contexts() -> None:
    fast = fast_copy_contexts(_contexts())
    copy = deepcopy(fast)
    copy[0].context_id = 7
    copy[0].result = 0
    copy[0].transfer_syntax = copy[0].transfer_syntax[:1]
    assert fast[0].context_id is None
    assert fast[0].result is None
    assert len(fast[0].transfer_syntax) == len(ALL_TRANSFER_SYNTAXES)
    assert copy[1] is not fast[1] and vars(copy[1]) == vars(fast[1])
