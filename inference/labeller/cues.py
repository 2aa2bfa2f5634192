"""The labeller's context cues: clause boundaries, negation, hedging and pseudo-negation.

Each is a compiled, case-insensitive pattern that :func:`inference.labeller._classify` searches
in the text of a mention's clause before (``*_BEFORE``) or after (``*_AFTER``, anchored at the
mention) the phrase. Imports no Django.
"""

from __future__ import annotations

import re

# Clause boundaries: a cue does not reach across them. A comma ends a clause when the next
# word opens a new one ("No effusion, small pneumothorax" vs "No effusion, pneumothorax or...").
CLAUSE_START = (
    r"there|the|a|an|this|these|it|is|are|was|has|have|now|which|with|heart|lungs?|cardiac|"
    r"mediastinum|otherwise|although|but|however|may|could|likely|possible|probable|probably|"
    r"possibly|suggest\w*|consistent|compatible|concerning|representing|most"
)
BOUNDARY = re.compile(
    r";|:|\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bexcept\b|\bwhich\b|\bwhereas\b|"
    r"\bwhile\b|(?<!compatible )(?<!consistent )(?<!associated )\bwith(?!out)\b|\bthat\b|"
    rf",\s*(?=(?:{CLAUSE_START})\b)|\band\s+(?=(?:there|the|a|an|it|this|is|are)\b)",
    re.IGNORECASE,
)

# "no change in the effusion" asserts the effusion: these are masked before cue search.
PSEUDO_NEGATION = re.compile(
    r"\bno\s+(?:significant\s+|appreciable\s+|substantial\s+|interval\s+|other\s+)*"
    r"(?:change|increase|decrease|worsening|improvement|progression)\w*|"
    r"\bnot\s+(?:\w+ly\s+)?(?:changed|increased|decreased|improved|worsened)|"
    r"\bno\s+(?:longer\s+)?(?:significant|definite)?\s*interval\s+change|\bnot\s+only\b|"
    r"\bwithout\s+(?:significant\s+)?(?:change|interval\s+change)",
    re.IGNORECASE,
)

# A hedge made with a negation word: checked before negation ("cannot be excluded").
NEGATED_HEDGE_BEFORE = re.compile(
    r"\b(?:can\s*not|could\s+not|cannot|not)\s+(?:be\s+)?(?:entirely\s+|completely\s+|totally\s+)?"
    r"(?:exclude|excluded|rule\s+out|ruled\s+out)\b|\bno\s+new\b",
    re.IGNORECASE,
)
NEGATED_HEDGE_AFTER = re.compile(
    r"^[^.]*?\b(?:(?:can\s*not|cannot|could\s+not|not|are\s+not|is\s+not)\s+(?:\w+ly\s+)?"
    r"(?:be\s+)?(?:\w+ly\s+)?(?:excluded|ruled\s+out)|"
    r"not\s+(?:well|clearly)[- ](?:seen|visualized|evaluated))\b",
    re.IGNORECASE,
)

NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|without|negative(?:\s+for)?|free\s+of|clear(?:\s+of)?|absence\s+of|absent|"
    r"resolution\s+of|resolved|removal\s+of|removed|rather\s+than|neither|nor|"
    r"exclude[sd]?|rule\s+out|ruled\s+out|r/o|clearing\s+of|never|history\s+of)\b",
    re.IGNORECASE,
)
NEGATION_AFTER = re.compile(
    r"^[^.]*?\b(?:(?:is|are|was|were|has\s+been|have\s+been)\s+)?"
    r"(?:(?:not|no\s+longer)\s+(?:\w+ly\s+)?(?:seen|identified|present|visuali[sz]ed|evident|"
    r"appreciated|demonstrated|noted|detected|visible|apparent|enlarged)|"
    r"(?:(?:has|have)\s+(?:since\s+)?)?(?:resolved|cleared|disappeared)|"
    r"(?:has|have)\s+been\s+removed|removed|absent)\b|"
    # "X is normal" only right after X: "heart is enlarged and mediastinum is normal" is not it
    r"^\W*(?:is|are|appears?|remains?)\s+(?:\w+ly\s+)?(?:normal|unremarkable|within\s+(?:the\s+)?"
    r"(?:normal\s+limits|limits\s+of\s+normal))\b",
    re.IGNORECASE,
)

HEDGE_BEFORE = re.compile(
    r"\b(?:may|might|could|can|would|possible|possibly|possibility|probable|probably|likely|"
    r"question(?:able)?|"
    r"questioned|suspect\w*|suspicious|suggest\w*|concern(?:ing)?\s+for|worrisome|differential|"
    r"consider\w*|versus|vs|and/or|equivocal|indeterminate|borderline|presum\w*|favou?r\w*|"
    r"perhaps|uncertain|unclear|not\s+certain|cannot|developing|early|atypical|correlat\w*|"
    r"evaluat\w*\s+for|assess\w*\s+for)\b",
    re.IGNORECASE,
)
HEDGE_OR_BEFORE = re.compile(r"\b(?:or|versus|vs)\s+(?:\S+\s+){0,3}$", re.IGNORECASE)
HEDGE_AFTER = re.compile(
    r"^\W*(?:(?:is|are|was|were|remains?)\s+)?(?:(?:also\s+)?(?:suspected|questioned|possible|"
    r"likely|probable|(?:less|more)\s+likely|a\s+possibility|not\s+certain|uncertain|"
    r"considered|favou?red|(?:also\s+)?in\s+the\s+differential|a\s+consideration)\b|"
    r"(?:\S+\s+){0,3}?(?:or|versus|vs|and/or)\b(?!\s+without))",
    re.IGNORECASE,
)
