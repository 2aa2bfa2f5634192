"""The labeller's mention table: which phrases mention which CheXpert label, and look-alikes.

One row per phrase (:class:`Phrase`): the label, a case-insensitive pattern, and what the
phrase asserts on its own. :data:`NOT_MENTIONS` lists look-alikes masked before matching
("pericardial effusion" is no pleural effusion). The engine in :mod:`inference.labeller` reads
these; editing a row changes the labeller, so re-run ``bench/labeller_f1.py`` after. Imports no
Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from inference.labels import Label, Mention

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
