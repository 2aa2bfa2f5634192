"""A rule-based CheXpert labeller for chest X-ray report text, negation and uncertainty aware.

It reads free text (findings and/or impression) and says, for each of the 14 CheXpert labels the
text mentions, whether it is asserted (positive), denied (negative) or hedged (uncertain). It is
the QA step's reader of generated drafts and of signed reports (contradiction detection), and the
labeller behind "clinical-efficacy F1". Pure Python and :mod:`re`; imports no Django, loads no
model.

How it works (CheXpert's three stages, with regular expressions in place of a parser):

1. **Mention.** The text is split into sentences; :data:`PHRASES` (one row per phrase: label,
   pattern, what the phrase itself asserts) finds mentions. :data:`NOT_MENTIONS` masks look-alikes
   first ("pericardial effusion" is no pleural effusion, "calcified nodule" no lung lesion).
   :data:`OTHER_ABNORMALITY` finds abnormalities outside the 13 findings (scoliosis, emphysema,
   granulomas...), which only matter for "No Finding".
2. **Classify.** Each mention is judged inside its clause (the sentence cut at ";", "but",
   "however", "with", a comma that opens a new clause...). In order: a hedge that contains a
   negation ("cannot be excluded") makes it uncertain; a negation cue before it ("no", "without",
   "negative for", "free of", "resolution of"...) or after it ("is not seen", "has resolved")
   makes it negative; a hedge cue ("may", "possible", "likely", "suggestive of", "versus", "X or
   Y"...) makes it uncertain; otherwise it is what the phrase asserts. Phrases like "normal heart
   size" are negative mentions by themselves.
3. **Aggregate.** Per label over all sentences: positive beats uncertain beats negative. "No
   Finding" is positive when no label other than Support Devices is positive or uncertain and
   no other abnormality is asserted or hedged; otherwise it is absent (CheXpert never marks it
   negative).

Known limits: no coreference ("it has resolved"), no temporal reasoning beyond "no change in"
(pseudo-negation) and "no longer", and clause scoping is lexical, so unusual syntax can
mis-scope a cue. Measured agreement with the IU X-ray MeSH index: ``bench/labeller_f1.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from inference.labels import MENTION_PRECEDENCE, NO_FINDING_COMPATIBLE, Label, Mention

L = Label
P, N, U = Mention.POSITIVE, Mention.NEGATIVE, Mention.UNCERTAIN


@dataclass(frozen=True)
class Phrase:
    """One row of the mention table.

    ``pattern`` is a case-insensitive regular expression, matched on word boundaries.
    ``asserts`` is what the phrase says on its own: POSITIVE (context decides), UNCERTAIN
    ("blunted costophrenic angle": effusion or thickening; a negation cue still makes it
    negative) or NEGATIVE ("normal heart size"; context is not consulted).
    """

    label: Label | None  # None: an abnormality outside the 13 findings (blocks No Finding)
    pattern: str
    asserts: Mention = Mention.POSITIVE


# Reusable vocabulary for the patterns below ("xxxx" is the IU anonymiser's placeholder).
_BE = r"(?:\s+xxxx)?(?:\s+(?:is|are|was|were|appears?(?:\s+to\s+be)?|remains?|seems?|looks?|"
_BE += r"has\s+become|is\s+again|are\s+again))?(?:\s+xxxx)?"
_DEG = r"(?:\s+(?:mildly|moderately|markedly|severely|slightly|minimally|massively|significantly|"
_DEG += r"again|still|now|stably|chronically|somewhat|diffusely|globally|persistently|borderline|"
_DEG += r"to|at\s+least|xxxx))*"
_HEART = r"(?:heart|cardiac(?:\s+(?:silhouette|shadow|contours?|borders?))?)(?:\s+size)?"
_CARDIOMEDIASTINAL = r"cardio-?\s?mediastinal\s+(?:silhouette|contours?)(?:\s+size)?"
_MEDIASTINUM = r"(?:mediastinum|mediastinal\s+(?:contours?|silhouette|width|shadow)|"
_MEDIASTINUM += r"cardiomediastinal\s+(?:silhouette|contours?)|superior\s+mediastinum)"
_NORMAL = r"(?:normal|unremarkable|within\s+normal\s+limits|normal\s+(?:in\s+)?(?:size|contour)|"
_NORMAL += r"not\s+enlarged|stable\s+and\s+normal|of\s+normal\s+size|normal\s+size)"
# "Heart size, mediastinal contour, and pulmonary vascularity are within normal limits."
_HEART_AND_MEDIASTINUM_NORMAL = (
    r"(?:normal\s+(?:heart|cardiac)(?:\s+size)?\s*(?:,|,?\s+and)\s+(?:the\s+)?mediastin(?:um|al\s+(?:contours?|silhouettes?|width)))|"
    r"(?:(?:heart|cardiac)(?:\s+(?:size|silhouette|contours?))?\s*(?:,|,?\s+and)\s+(?:the\s+)?"
    r"mediastin(?:um|al\s+(?:contours?|silhouettes?|width))(?:\s*(?:,|,?\s+and)\s+(?:pulmonary\s+)?"
    r"(?:vascularity|vasculature|hila|hilar\s+contours?))?\s+(?:are|is|appear)\s+(?:\w+\s+)?"
    r"(?:normal|unremarkable|within\s+normal\s+limits))"
)
_SIDE = r"(?:(?:right|left|bilateral|both|bibasilar|basilar|small|trace|tiny|"
_SIDE += r"minimal|mild|moderate|large|posterior|lateral)\s+)*"
_COSTOPHRENIC = r"costophrenic\s+(?:angles?|sulc[iu]s?|recess(?:es)?|xxxx)"

PHRASES: Final[tuple[Phrase, ...]] = (
    # --- Cardiomegaly -------------------------------------------------------------------
    Phrase(
        L.CARDIOMEGALY,
        r"cardiomegaly|(?:cardiac|heart)\s+enlargement|enlarged\s+heart|large\s+heart",
    ),
    Phrase(
        L.CARDIOMEGALY,
        r"enlarge(?:d|ment\s+of\s+the)\s+(?:cardiac\s+(?:silhouette|shadow|size|contours?)|heart)",
    ),
    Phrase(
        L.CARDIOMEGALY,
        r"(?:increase[sd]?|increasing)\s+(?:in\s+)?(?:the\s+)?(?:heart|cardiac)\s+(?:size|silhouette)",
    ),
    # An enlarged cardiomediastinal silhouette is Enlarged Cardiomediastinum for sure, and
    # probably (not certainly) the heart.
    Phrase(
        L.CARDIOMEGALY,
        r"enlarge(?:d|ment\s+of\s+the)\s+cardiomediastinal\s+(?:silhouette|contours?)",
        U,
    ),
    Phrase(L.CARDIOMEGALY, rf"{_HEART}{_BE}{_DEG}\s+(?:enlarged|large|increased)"),
    Phrase(L.CARDIOMEGALY, rf"{_CARDIOMEDIASTINAL}{_BE}{_DEG}\s+(?:enlarged|large|increased)", U),
    Phrase(L.CARDIOMEGALY, rf"{_CARDIOMEDIASTINAL}{_BE}\s+{_NORMAL}", N),
    Phrase(L.CARDIOMEGALY, rf"{_HEART}{_BE}\s+borderline", U),
    # CheXpert reads "at the upper limits of normal" as normal.
    Phrase(
        L.CARDIOMEGALY,
        rf"{_HEART}{_BE}(?:\s+(?:at|within|towards?))?(?:\s+the)?\s+upper\s+limits?\s+(?:of\s+)?normal(?!\s+(?:or|to)\s+(?:\w+\s+)?enlarged)",
        N,
    ),
    Phrase(
        L.CARDIOMEGALY, r"upper\s+limits?\s+(?:of\s+)?normal\s+(?:or|to)\s+(?:\w+\s+)?enlarged", U
    ),
    Phrase(
        L.CARDIOMEGALY,
        r"borderline\s+(?:cardiomegaly|(?:enlarged\s+)?heart\s+size|enlarged\s+heart)",
        U,
    ),
    Phrase(L.CARDIOMEGALY, rf"{_HEART}{_BE}\s+{_NORMAL}", N),
    Phrase(
        L.CARDIOMEGALY,
        r"normal(?:[- ]sized?)?\s+(?:heart|cardiac)(?:\s+(?:size|silhouette|contours?))?",
        N,
    ),
    Phrase(L.CARDIOMEGALY, r"heart\s+and\s+mediastinum(?:\s+(?:are|appear))?\s+normal", N),
    Phrase(L.CARDIOMEGALY, _HEART_AND_MEDIASTINUM_NORMAL, N),
    Phrase(L.CARDIOMEGALY, rf"{_HEART}{_BE}\s+not\s+(?:\w+ly\s+)?enlarged", N),
    # --- Enlarged Cardiomediastinum -----------------------------------------------------
    Phrase(
        L.ENLARGED_CARDIOMEDIASTINUM,
        r"(?:widened|widening\s+of\s+the|enlarged|prominent)\s+(?:cardio)?mediastin(?:um|al\s+(?:contours?|silhouette|shadow))",
    ),
    Phrase(
        L.ENLARGED_CARDIOMEDIASTINUM,
        r"(?:widen(?:ed|ing)|enlarge(?:d|ment)|prominen(?:t|ce))\s+(?:of\s+the\s+)?(?:\w+\s+){0,2}?(?:mediastin(?:um|al\s+(?:contours?|silhouette|shadow))|paratracheal\s+(?:stripe|soft\s+tissues?))",
    ),
    Phrase(
        L.ENLARGED_CARDIOMEDIASTINUM,
        r"(?:mediastinal|paratracheal)\s+(?:\w+\s+)?(?:widening|enlargement|prominence)",
    ),
    Phrase(
        L.ENLARGED_CARDIOMEDIASTINUM,
        rf"{_MEDIASTINUM}{_BE}{_DEG}\s+(?:widened|enlarged|prominent|wide)",
    ),
    Phrase(L.ENLARGED_CARDIOMEDIASTINUM, rf"{_MEDIASTINUM}{_BE}\s+{_NORMAL}", N),
    Phrase(
        L.ENLARGED_CARDIOMEDIASTINUM,
        r"normal\s+(?:cardio)?mediastin(?:um|al\s+(?:contours?|silhouette|width))",
        N,
    ),
    Phrase(
        L.ENLARGED_CARDIOMEDIASTINUM, r"heart\s+and\s+mediastinum(?:\s+(?:are|appear))?\s+normal", N
    ),
    Phrase(L.ENLARGED_CARDIOMEDIASTINUM, _HEART_AND_MEDIASTINUM_NORMAL, N),
    # --- Lung Opacity -------------------------------------------------------------------
    Phrase(L.LUNG_OPACITY, r"opaci(?:ty|ties|fication|fied)|infiltrat(?:e|es|ion|ive)"),
    Phrase(L.LUNG_OPACITY, r"air[- ]?space\s+(?:disease|process)"),
    # A bare "density" is as often bone, soft tissue or a device: only lung-qualified ones count.
    Phrase(
        L.LUNG_OPACITY,
        r"(?:increased|airspace|parenchymal|pulmonary|lung|basilar|retrocardiac|streaky|patchy|hazy)\s+densit(?:y|ies)",
    ),
    Phrase(L.LUNG_OPACITY, r"ground[- ]glass|haziness|scar(?:s|ring)?|reticular\w*"),
    Phrase(L.LUNG_OPACITY, r"interstitial\s+(?:markings|prominence|pattern|disease|changes)"),
    # --- Lung Lesion --------------------------------------------------------------------
    Phrase(
        L.LUNG_LESION, r"nodules?|nodular\s+(?:densit(?:y|ies)|opacit(?:y|ies)|lesions?)|masse?s?"
    ),
    Phrase(
        L.LUNG_LESION,
        r"(?:lung|pulmonary|cavitary|parenchymal)\s+lesions?|cavitation|lump|neoplasm|tumou?r|carcinoma|malignancy",
    ),
    # --- Edema ---------------------------------------------------------------------------
    Phrase(
        L.EDEMA, r"edema|oedema|congestion|congestive|pulmonary\s+venous\s+hypertension|engorge\w*"
    ),
    Phrase(
        L.EDEMA,
        r"(?:increased|prominent)\s+(?:\w+\s+){0,2}(?:vascularity|vasculature|vascular\s+markings)",
    ),
    Phrase(
        L.EDEMA,
        r"prominence\s+of\s+the\s+(?:\w+\s+){0,2}(?:vasculature|vascularity)|vascular\s+redistribution|cephalization",
    ),
    Phrase(L.EDEMA, r"(?:congestive\s+)?heart\s+failure|chf|fluid\s+overload|kerley\s+b?\s*lines"),
    Phrase(L.EDEMA, r"(?:vascular|venous)\s+(?:engorgement|prominence|indistinctness)"),
    Phrase(
        L.EDEMA,
        r"(?:pulmonary\s+)?(?:vascularity|vasculature)(?:\s+(?:is|are|appears?))?\s+(?:normal|within\s+normal\s+limits)",
        N,
    ),
    Phrase(L.EDEMA, r"normal\s+pulmonary\s+(?:vascularity|vasculature)", N),
    # --- Consolidation / Pneumonia / Atelectasis -----------------------------------------
    Phrase(L.CONSOLIDATION, r"consolidat\w*"),
    Phrase(L.PNEUMONIA, r"(?:broncho)?pneumonias?|infection|infectious(?:\s+process)?"),
    Phrase(L.ATELECTASIS, r"atelecta\w*"),
    Phrase(
        L.ATELECTASIS,
        r"(?:lobar|lobe|lung|segmental)\s+collapse|collapse\s+of\s+the\s+(?:\w+\s+){0,2}(?:lobe|lung)|collapsed\s+(?:\w+\s+){0,2}(?:lobe|lung)",
    ),
    # --- Pneumothorax / Pleural Effusion / Pleural Other ----------------------------------
    Phrase(
        L.PNEUMOTHORAX,
        r"(?:hydro|hemo|haemo)?pneumothora(?:x|ces)|pleural\s+air(?:\s+collections?)?",
    ),
    Phrase(
        L.PLEURAL_EFFUSION,
        r"effusions?|pleural\s+fluid|hydrothorax|(?:hydro|hemo|haemo)pneumothora(?:x|ces)|hemothorax|empyema",
    ),
    Phrase(
        L.PLEURAL_EFFUSION, rf"blunt(?:ing|ed)\s+(?:of\s+)?(?:the\s+)?{_SIDE}{_COSTOPHRENIC}", U
    ),
    Phrase(
        L.PLEURAL_EFFUSION,
        rf"{_COSTOPHRENIC}(?:\s+(?:is|are|remains?|appears?))?(?:\s+\w+ly)?\s+blunt(?:ed|ing)",
        U,
    ),
    Phrase(
        L.PLEURAL_EFFUSION,
        rf"{_COSTOPHRENIC}\s+(?:are|is)\s+(?:sharp|clear|preserved)|sharp\s+{_COSTOPHRENIC}",
        N,
    ),
    Phrase(
        L.PLEURAL_OTHER,
        r"pleural\s+(?:thickening|scar(?:s|ring)?|plaques?|calcifications?|reaction)",
    ),
    Phrase(
        L.PLEURAL_OTHER,
        r"fissural\s+thickening|thickening\s+(?:of|in)\s+the\s+(?:\w+\s+)?fissures?",
    ),
    Phrase(
        L.PLEURAL_OTHER,
        r"(?:effusions?|fluid)\s+(?:versus|vs\.?|or|and/or)\s+(?:pleural\s+)?(?:thickening|scarring)",
        U,
    ),
    Phrase(
        L.PLEURAL_OTHER,
        r"pleur(?:al|o)-?\s?parenchymal\s+(?:scar(?:s|ring)?|thickening|changes)|thickened\s+pleura|thickening\s+of\s+the\s+pleura|apical\s+(?:pleural\s+)?cap(?:ping|s)?|fibrothorax",
    ),
    # --- Fracture -------------------------------------------------------------------------
    Phrase(
        L.FRACTURE,
        r"fractures?|fractured|fx|broken\s+(?:\w+\s+){0,3}?(?:ribs?|clavicles?|bones?|vertebra\w*)",
    ),
    # --- Support Devices --------------------------------------------------------------------
    Phrase(
        L.SUPPORT_DEVICES,
        r"pacemakers?|pacers?|a?icds?|defibrillators?|loop\s+recorder|catheters?|tubes?|stents?",
    ),
    Phrase(
        L.SUPPORT_DEVICES,
        r"(?:picc|central(?:\s+venous)?|venous|arterial|swan[- ]ganz|jugular|subclavian|"
        r"dialysis|ij)\s+lines?",
    ),
    Phrase(
        L.SUPPORT_DEVICES,
        r"picc|port-?a-?cath|portacath|port[- ]?catheter|mediport|"
        r"(?:chest|power|infusion|venous)\s+port|drains?|cannulas?|coils?|electrodes?|"
        r"stimulators?|(?:cardiac\s+)?monitors?",
    ),
    Phrase(
        L.SUPPORT_DEVICES,
        r"(?:valve\s+(?:replacement|prosthesis)|prosthetic\s+valve|(?:aortic|mitral)\s+valve\s+replacement)",
    ),
    Phrase(
        L.SUPPORT_DEVICES,
        r"(?:monitoring|ekg|ecg|telemetry)\s+(?:leads|wires|electrodes)|devices?|hardware|leads",
    ),
    Phrase(
        L.SUPPORT_DEVICES,
        r"prosthe\w*|arthroplast\w*|bone\s+anchors?|(?:internal\s+)?fixation|plates?|screws?|shunt|tubing|tracheostomy|generator|markers?",
    ),
    # A tip in a central vein or the airway is a line or tube even when the anonymiser ate its name.
    Phrase(
        L.SUPPORT_DEVICES,
        r"tips?\s+(?:\w+\s+){0,5}?(?:svc|superior\s+vena\s+cava|cavoatrial|caval|(?:right\s+)?atri(?:um|al)|carina|right\s+ventricle)",
    ),
    # --- Abnormalities outside the 13 findings (rule out No Finding) -------------------------
    Phrase(
        None,
        r"emphysema\w*|hyperinflat\w*|hyperexpan\w*|hyperaerat\w*|copd|chronic\s+obstructive|bullae?|bullous|blebs?",
    ),
    Phrase(
        None,
        r"flatten\w*|eventration|elevat\w*|hernia\w*|kyphosis|kyphotic|degenerat\w*|spondylosis|osteophyt\w*|arthriti\w*|arthropathy",
    ),
    Phrase(
        None,
        r"granulom\w*|calcifi\w*|atheroscleros\w*|atherosclerotic|tortu\w*|ectatic|ectasia|unfold\w*|aneurysm\w*",
    ),
    Phrase(
        None,
        r"deformit\w*|osteopeni\w*|osteoporo\w*|demineraliz\w*|lytic|sclerotic|metasta\w*|lucenc\w*|fibros\w*|fibrotic|bronchiectasis|cysts?|cystic",
    ),
    Phrase(
        None,
        r"(?:low|decreased|diminished|reduced|increased)\s+(?:lung\s+|inspiratory\s+)?volumes?|lung\s+volumes\s+are\s+(?:\w+\s+)?(?:low|decreased|diminished|reduced|increased)(?!\s+normal)|hypoinflat\w*|hypoventilat\w*|(?:poor|shallow)\s+inspiration|volume\s+loss|crowding",
    ),
    Phrase(
        None,
        r"densit(?:y|ies)|\w*scolio\w*|curvature|spurs?|spurring|endplate|artifacts?|technically\s+limited|limited\s+(?:exam\w*|study)|lipoma|contrast|piercings?|(?:nipple\s+)?rings?",
    ),
    # Surgical clips and sternotomy wires support nothing: not Support Devices (as in CheXpert).
    Phrase(
        None,
        r"sternotomy|sternal\s+wires?|clips?|staples?|sutures?|cabg|post-?(?:operative|surgical)|status\s+post|thoracotomy|lobectomy|pneumonectomy|cholecystectomy",
    ),
    Phrase(
        None,
        r"azygos|pectus|mastectomy|pneumoperitoneum|pneumomediastinum|foreign\s+bod(?:y|ies)|shrapnel|bullets?|implants?|nipple\s+shadows?",
    ),
    Phrase(
        None,
        r"(?:lymph)?adenopathy|lymph\s+nodes?|prominen\w*|thicken\w*|cuffing|bronchitis|bronchiolitis",
    ),
)

#: Look-alikes masked before mention matching, per label (CheXpert's "unmention" phrases).
NOT_MENTIONS: Final[dict[Label, str]] = {
    L.PLEURAL_EFFUSION: r"pericardial\s+effusions?|joint\s+effusions?",
    L.LUNG_LESION: (
        r"calcified\s+(?:\w+\s+){0,2}(?:nodules?|granulomas?|masses)|massive|mass\s+effect|"
        r"(?:soft\s+tissue|thyroid|pericardial|chest\s+wall|breast|mediastinal|neck|abdominal)\s+mass(?:es)?"
    ),
    L.LUNG_OPACITY: (
        r"pleur(?:al|o)(?:[- ]?parenchymal)?\s+scar(?:s|ring)?|bone\s+density|"
        r"(?:soft\s+tissue|calcific|calcified|metallic)\s+densit(?:y|ies)"
    ),
    L.EDEMA: r"soft\s+tissue\s+(?:edema|swelling)",
    L.FRACTURE: (
        r"fractures?\s+may\s+not\s+be\s+\w+|"
        r"(?:screw|wire|lead|catheter|hardware|sternotomy)s?\s+(?:(?:is|are)\s+)?fractur\w*|"
        r"fractur\w*\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+){0,3}?(?:screw|wire|lead|catheter|sternotomy)s?"
    ),
    L.PNEUMONIA: (
        r"urinary\s+tract\s+infection|uti|"
        r"(?:granulomatous|prior|old|previous|remote|healed)\s+infection"
    ),
    L.SUPPORT_DEVICES: r"(?:bronchial|eustachian|fallopian)\s+tubes?",
}

# Clause boundaries: a cue does not reach across them. A comma ends a clause when the next
# word opens a new one ("No effusion, small pneumothorax" vs "No effusion, pneumothorax or...").
_CLAUSE_START = (
    r"there|the|a|an|this|these|it|is|are|was|has|have|now|which|with|heart|lungs?|cardiac|"
    r"mediastinum|otherwise|although|but|however|may|could|likely|possible|probable|probably|"
    r"possibly|suggest\w*|consistent|compatible|concerning|representing|most"
)
_BOUNDARY = re.compile(
    r";|:|\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bexcept\b|\bwhich\b|\bwhereas\b|"
    r"\bwhile\b|(?<!compatible )(?<!consistent )(?<!associated )\bwith(?!out)\b|\bthat\b|"
    rf",\s*(?=(?:{_CLAUSE_START})\b)|\band\s+(?=(?:there|the|a|an|it|this|is|are)\b)",
    re.IGNORECASE,
)

# "no change in the effusion" asserts the effusion: these are masked before cue search.
_PSEUDO_NEGATION = re.compile(
    r"\bno\s+(?:significant\s+|appreciable\s+|substantial\s+|interval\s+|other\s+)*"
    r"(?:change|increase|decrease|worsening|improvement|progression)\w*|"
    r"\bnot\s+(?:\w+ly\s+)?(?:changed|increased|decreased|improved|worsened)|"
    r"\bno\s+(?:longer\s+)?(?:significant|definite)?\s*interval\s+change|\bnot\s+only\b|"
    r"\bwithout\s+(?:significant\s+)?(?:change|interval\s+change)",
    re.IGNORECASE,
)

# A hedge made with a negation word: checked before negation ("cannot be excluded").
_NEGATED_HEDGE_BEFORE = re.compile(
    r"\b(?:can\s*not|could\s+not|cannot|not)\s+(?:be\s+)?(?:entirely\s+|completely\s+|totally\s+)?"
    r"(?:exclude|excluded|rule\s+out|ruled\s+out)\b|\bno\s+new\b",
    re.IGNORECASE,
)
_NEGATED_HEDGE_AFTER = re.compile(
    r"^[^.]*?\b(?:(?:can\s*not|cannot|could\s+not|not|are\s+not|is\s+not)\s+(?:be\s+)?"
    r"(?:\w+ly\s+)?(?:excluded|ruled\s+out)|"
    r"not\s+(?:well|clearly)[- ](?:seen|visualized|evaluated))\b",
    re.IGNORECASE,
)

_NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|without|negative(?:\s+for)?|free\s+of|clear(?:\s+of)?|absence\s+of|absent|"
    r"resolution\s+of|resolved|removal\s+of|removed|rather\s+than|neither|nor|"
    r"exclude[sd]?|rule\s+out|ruled\s+out|r/o|clearing\s+of|never|history\s+of)\b",
    re.IGNORECASE,
)
_NEGATION_AFTER = re.compile(
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

_HEDGE_BEFORE = re.compile(
    r"\b(?:may|might|could|can|would|possible|possibly|probable|probably|likely|question(?:able)?|"
    r"questioned|suspect\w*|suspicious|suggest\w*|concern(?:ing)?\s+for|worrisome|differential|"
    r"consider\w*|versus|vs|and/or|equivocal|indeterminate|borderline|presum\w*|favou?r\w*|"
    r"perhaps|uncertain|unclear|not\s+certain|cannot|developing|early|atypical|correlat\w*|"
    r"evaluat\w*\s+for|assess\w*\s+for)\b",
    re.IGNORECASE,
)
_HEDGE_OR_BEFORE = re.compile(r"\b(?:or|versus|vs)\s+(?:\S+\s+){0,3}$", re.IGNORECASE)
_HEDGE_AFTER = re.compile(
    r"^\W*(?:(?:is|are|was|were|remains?)\s+)?(?:(?:also\s+)?(?:suspected|questioned|possible|"
    r"likely|probable|(?:less|more)\s+likely|a\s+possibility|not\s+certain|uncertain|"
    r"considered|favou?red)\b|(?:\S+\s+){0,3}?(?:or|versus|vs|and/or)\b(?!\s+without))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SentenceMention:
    """One mention of a label in one sentence, for provenance.

    ``start``/``end`` index the whole text (``text[start:end]`` is the matched phrase);
    ``sentence_start``/``sentence_end`` the sentence containing it. ``label`` is ``None`` for an
    abnormality outside the 13 findings, which only rules out "No Finding".
    """

    sentence_index: int
    sentence_start: int
    sentence_end: int
    label: Label | None
    mention: Mention
    phrase: str
    start: int
    end: int


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences of ``text``, whitespace trimmed.

    A sentence ends at ``.``, ``!`` or ``?`` followed by whitespace, or at a newline; decimals
    ("1.3 cm") do not end one.
    """
    spans: list[tuple[int, int]] = []
    position = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        stop = match.start() if match is not None else len(text)
        chunk = text[position:stop]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((position + lead, position + len(chunk.rstrip())))
        if match is not None:
            position = match.end()
    return spans


def _compile(pattern: str) -> re.Pattern[str]:
    # A hyphen before a phrase makes another word ("non-calcified"); one after does not
    # ("fracture-dislocation").
    return re.compile(rf"(?<![\w-])(?:{pattern})(?!\w)", re.IGNORECASE)


_COMPILED: Final[tuple[tuple[Phrase, re.Pattern[str]], ...]] = tuple(
    (phrase, _compile(phrase.pattern)) for phrase in PHRASES
)
_COMPILED_NOT: Final[dict[Label, re.Pattern[str]]] = {
    label: _compile(pattern) for label, pattern in NOT_MENTIONS.items()
}


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` with ``pattern``'s matches blanked out (same length, so spans stay valid)."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _clause(sentence: str, start: int, end: int) -> tuple[str, str]:
    """The text of the mention's clause before ``start`` and after ``end``."""
    begin, stop = 0, len(sentence)
    for boundary in _BOUNDARY.finditer(sentence):
        if boundary.end() <= start:
            begin = boundary.end()
        elif boundary.start() >= end:
            stop = boundary.start()
            break
    return sentence[begin:start], sentence[end:stop]


def _classify(sentence: str, start: int, end: int, asserts: Mention) -> Mention:
    """How the clause around ``sentence[start:end]`` qualifies a phrase asserting ``asserts``."""
    if asserts is Mention.NEGATIVE:
        return asserts
    before, after = _clause(_mask(sentence, _PSEUDO_NEGATION), start, end)
    if _NEGATED_HEDGE_BEFORE.search(before) or _NEGATED_HEDGE_AFTER.search(after):
        return Mention.UNCERTAIN
    if _NEGATION_BEFORE.search(before) or _NEGATION_AFTER.search(after):
        return Mention.NEGATIVE
    if (
        _HEDGE_BEFORE.search(before)
        or _HEDGE_OR_BEFORE.search(before)
        or _HEDGE_AFTER.search(after)
    ):
        return Mention.UNCERTAIN
    return asserts


def _sentence_mentions(sentence: str) -> list[tuple[Label | None, Mention, int, int]]:
    found: list[tuple[Label | None, Mention, int, int]] = []
    masked = {label: _mask(sentence, pattern) for label, pattern in _COMPILED_NOT.items()}
    for phrase, pattern in _COMPILED:
        haystack = masked.get(phrase.label, sentence) if phrase.label else sentence
        for match in pattern.finditer(haystack):
            mention = _classify(sentence, match.start(), match.end(), phrase.asserts)
            found.append((phrase.label, mention, match.start(), match.end()))
    # One mention per label per stretch of text: the longest (most specific) phrase wins.
    found.sort(key=lambda item: (item[2], -(item[3] - item[2])))
    kept: list[tuple[Label | None, Mention, int, int]] = []
    for item in found:
        label, _, start, end = item
        if any(k[0] == label and k[2] < end and start < k[3] for k in kept):
            continue
        kept.append(item)
    return kept


def label_sentences(text: str) -> list[SentenceMention]:
    """Every label mention in ``text``, sentence by sentence, in text order.

    Args:
        text: report text (any sections; ``XXXX`` anonymisation placeholders are harmless).

    Returns:
        One :class:`SentenceMention` per mention, including abnormalities outside the 13
        findings (``label=None``). "No Finding" is never mentioned; :func:`label_report`
        derives it.
    """
    results: list[SentenceMention] = []
    for index, (s_start, s_end) in enumerate(split_sentences(text)):
        sentence = text[s_start:s_end]
        for label, mention, start, end in _sentence_mentions(sentence):
            results.append(
                SentenceMention(
                    sentence_index=index,
                    sentence_start=s_start,
                    sentence_end=s_end,
                    label=label,
                    mention=mention,
                    phrase=sentence[start:end],
                    start=s_start + start,
                    end=s_start + end,
                )
            )
    return results


def aggregate(mentions: Iterable[SentenceMention]) -> dict[Label, Mention]:
    """Per-label result of sentence mentions (CheXpert's aggregation).

    Positive beats uncertain beats negative. "No Finding" is POSITIVE when no label outside
    {Support Devices} and no other abnormality is positive or uncertain; otherwise absent.
    """
    result: dict[Label, Mention] = {}
    finding = False
    for item in mentions:
        if item.mention is not Mention.NEGATIVE and item.label not in NO_FINDING_COMPATIBLE:
            finding = True
        if item.label is None:
            continue
        current = result.get(item.label)
        if current is None or MENTION_PRECEDENCE[item.mention] > MENTION_PRECEDENCE[current]:
            result[item.label] = item.mention
    if not finding:
        result[Label.NO_FINDING] = Mention.POSITIVE
    return result


def label_report(text: str) -> dict[Label, Mention]:
    """CheXpert labels of a report text.

    Args:
        text: free text, typically findings and impression.

    Returns:
        ``{label: mention}`` for the labels the text mentions; labels not mentioned are
        absent. "No Finding" is POSITIVE or absent, never NEGATIVE. Blank text gives ``{}``
        (nothing was said, so not even "No Finding").
    """
    if not text.strip():
        return {}
    return aggregate(label_sentences(text))


def positive_labels(
    labels: dict[Label, Mention], *, uncertain_as_positive: bool = True
) -> set[Label]:
    """The labels a result counts as present (uncertain included unless told otherwise)."""
    accepted = (
        {Mention.POSITIVE, Mention.UNCERTAIN} if uncertain_as_positive else {Mention.POSITIVE}
    )
    return {label for label, mention in labels.items() if mention in accepted}
