from __future__ import annotations

import pytest

from inference.drafting.retrieval import RetrievalDrafter, draft_from_findings
from inference.drafting.wording import LABEL_WORDS, side_tier, substitute_side, template_sections
from inference.labeller import label_report
from inference.labels import DEFAULT_CRITICAL_LABELS, Label, Mention
from inference.sentence_bank import SentenceBank
from inference.types import ClinicalContext, Finding, Laterality, Severity
from tests.inference.drafting.conftest import HashingEncoder

CRITICAL = DEFAULT_CRITICAL_LABELS


def _finding(
    label: Label,
    confidence: float = 0.8,
    side: Laterality = Laterality.NONE,
    severity: Severity | None = None,
) -> Finding:
    return Finding(label, confidence, severity, side, is_critical=label in DEFAULT_CRITICAL_LABELS)


CASES = [
    pytest.param([], id="normal"),
    pytest.param([_finding(Label.PNEUMOTHORAX, 0.91, Laterality.LEFT)], id="pneumothorax"),
    pytest.param(
        [
            _finding(Label.PLEURAL_EFFUSION, 0.8, Laterality.RIGHT, Severity.MILD),
            _finding(Label.CARDIOMEGALY, 0.7),
        ],
        id="effusion-cardiomegaly",
    ),
    pytest.param([_finding(Label.LUNG_LESION, 0.6, Laterality.RIGHT)], id="nodule"),
    pytest.param(
        [_finding(Label.FRACTURE, 0.7, Laterality.LEFT), _finding(Label.SUPPORT_DEVICES, 0.9)],
        id="fracture-device",
    ),
    pytest.param(
        [
            _finding(Label.CONSOLIDATION, 0.7, Laterality.LEFT),
            _finding(Label.EDEMA, 0.6, Laterality.BILATERAL),
            _finding(Label.ATELECTASIS, 0.55),
        ],
        id="lungs",
    ),
]
CONTEXT = ClinicalContext(age_years=61, sex="F", indication="shortness of breath")


@pytest.fixture(scope="module")
def drafter(iu_bank: SentenceBank, encoder: HashingEncoder) -> RetrievalDrafter:
    return RetrievalDrafter(iu_bank, encoder)


@pytest.mark.parametrize("findings", CASES)
def test_it_states_each_finding_with_a_sentence_the_labeller_reads_as_positive(
    drafter: RetrievalDrafter, findings: list[Finding]
) -> None:
    sentences = drafter.compose(findings, CONTEXT)
    for finding in findings:
        stated = [s for s in sentences if s.section == "findings" and s.label is finding.label]
        assert len(stated) == 1
        assert label_report(stated[0].text).get(finding.label) is Mention.POSITIVE


@pytest.mark.parametrize("findings", CASES)
def test_it_never_contradicts_the_findings(
    drafter: RetrievalDrafter, findings: list[Finding]
) -> None:
    text = " ".join(s.text for s in drafter.compose(findings, CONTEXT))
    reading = label_report(text)
    present = {f.label for f in findings}
    for label, mention in reading.items():
        if label is Label.NO_FINDING:
            continue
        if label not in present:
            assert mention is not Mention.POSITIVE, (label, text)
        else:
            assert mention is not Mention.NEGATIVE, (label, text)
    for label in present:
        assert reading.get(label) is Mention.POSITIVE


@pytest.mark.parametrize("findings", CASES)
def test_it_gives_every_sentence_its_provenance(
    drafter: RetrievalDrafter, findings: list[Finding]
) -> None:
    sentences = drafter.compose(findings, CONTEXT)
    assert sentences
    for sentence in sentences:
        assert sentence.source.startswith(("iu-xray:CXR", "rule:")), sentence
        assert sentence.section in {"findings", "impression", "recommendations"}
        if sentence.section == "recommendations":
            assert sentence.source.startswith("rule:")
            assert sentence.label in {f.label for f in findings}


def test_it_states_normal_regions_only_where_nothing_was_found(
    drafter: RetrievalDrafter,
) -> None:
    normal = drafter.compose([], ClinicalContext())
    normal_text = " ".join(s.text for s in normal if s.section == "findings").lower()
    assert "effusion" in normal_text
    assert "pneumothorax" in normal_text
    assert all(s.label is None for s in normal)
    assert label_report(" ".join(s.text for s in normal)).get(Label.NO_FINDING) is Mention.POSITIVE
    impression = [s.text for s in normal if s.section == "impression"]
    assert len(impression) == 1
    assert impression[0].lower().startswith("no acute")

    effusion = drafter.compose([_finding(Label.PLEURAL_EFFUSION, side=Laterality.RIGHT)], CONTEXT)
    normals = " ".join(s.text for s in effusion if s.section == "findings" and s.label is None)
    assert "effusion" not in normals.lower()
    assert label_report(normals).get(Label.PLEURAL_EFFUSION) is None


def test_it_puts_critical_findings_first_in_the_impression(drafter: RetrievalDrafter) -> None:
    findings = [
        _finding(Label.CARDIOMEGALY, 0.95),
        _finding(Label.PNEUMOTHORAX, 0.6, Laterality.RIGHT),
    ]
    impression = [s for s in drafter.compose(findings, CONTEXT) if s.section == "impression"]
    assert [s.label for s in impression] == [Label.PNEUMOTHORAX, Label.CARDIOMEGALY]


def test_it_substitutes_the_side_when_the_bank_only_has_the_other_one() -> None:
    encoder = HashingEncoder()
    bank = SentenceBank.from_texts(
        [
            ("r1", "FINDINGS: Small right pleural effusion. The lungs are clear."),
            ("r2", "FINDINGS: Large bilateral pleural effusions."),
            ("r3", "IMPRESSION: No acute cardiopulmonary abnormality."),
        ],
        "test",
        encoder=encoder,
    )
    sentences = RetrievalDrafter(bank, encoder).compose(
        [_finding(Label.PLEURAL_EFFUSION, side=Laterality.LEFT, severity=Severity.MILD)],
        ClinicalContext(),
    )
    stated = [s for s in sentences if s.section == "findings" and s.label is not None]
    assert [(s.text, s.source) for s in stated] == [("Small left pleural effusion.", "test:r1")]


def test_it_prefers_a_sentence_naming_the_same_side() -> None:
    encoder = HashingEncoder()
    bank = SentenceBank.from_texts(
        [("r1", "Right pleural effusion."), ("r2", "Small left pleural effusion.")],
        "test",
        encoder=encoder,
    )
    sentences = RetrievalDrafter(bank, encoder).compose(
        [_finding(Label.PLEURAL_EFFUSION, side=Laterality.LEFT)], ClinicalContext()
    )
    assert sentences[0].text == "Small left pleural effusion."
    assert sentences[0].source == "test:r2"


def test_it_falls_back_to_a_rule_sentence_when_the_bank_has_none(
    encoder: HashingEncoder,
) -> None:
    bank = SentenceBank.from_texts([("r1", "The lungs are clear.")], "test", encoder=encoder)
    sentences = RetrievalDrafter(bank, encoder).compose(
        [_finding(Label.PNEUMOTHORAX, side=Laterality.RIGHT)], ClinicalContext()
    )
    stated = [s for s in sentences if s.label is Label.PNEUMOTHORAX and s.section == "findings"]
    assert stated[0].text == "Right pneumothorax."
    assert stated[0].source == "rule:finding-fallback"
    assert "The lungs are clear." in [s.text for s in sentences]  # no lung finding


@pytest.mark.parametrize("label", list(LABEL_WORDS))
def test_it_words_fallback_sentences_so_the_labeller_reads_them_as_positive(label: Label) -> None:
    assert label_report(f"Left {LABEL_WORDS[label]}.").get(label) is Mention.POSITIVE


def test_it_is_deterministic(iu_bank: SentenceBank, encoder: HashingEncoder) -> None:
    findings = [
        _finding(Label.PLEURAL_EFFUSION, 0.8, Laterality.RIGHT),
        _finding(Label.LUNG_LESION, 0.7, Laterality.LEFT),
    ]
    first = RetrievalDrafter(iu_bank, encoder).compose(findings, CONTEXT)
    second = RetrievalDrafter(iu_bank, encoder).compose(list(reversed(findings)), CONTEXT)
    assert first == second


def test_it_changes_the_recommendation_with_the_clinical_context(
    drafter: RetrievalDrafter,
) -> None:
    nodule = [_finding(Label.LUNG_LESION, 0.7, Laterality.RIGHT)]
    young = drafter.compose(nodule, ClinicalContext(age_years=28))
    smoker = drafter.compose(nodule, ClinicalContext(age_years=58, history="40 pack-year smoker"))

    def recommendation(sentences: tuple[object, ...]) -> list[str]:
        return [s.source for s in sentences if s.section == "recommendations"]  # type: ignore[attr-defined]

    assert recommendation(young) == ["rule:lung-lesion-under-35"]
    assert recommendation(smoker) == ["rule:lung-lesion-high-risk"]


def test_it_avoids_comparisons_with_priors_the_study_does_not_have(
    drafter: RetrievalDrafter,
) -> None:
    findings = [_finding(Label.CARDIOMEGALY), _finding(Label.PLEURAL_EFFUSION)]
    for sentence in drafter.compose(findings, ClinicalContext()):
        assert "unchanged" not in sentence.text.lower()
        assert "again" not in sentence.text.lower()


def test_it_follows_the_sections_a_template_names(drafter: RetrievalDrafter) -> None:
    assert template_sections("") == ("findings", "impression", "recommendations")
    assert template_sections("IMPRESSION:\n\nFINDINGS:") == ("impression", "findings")
    sentences = drafter.compose(
        [_finding(Label.PNEUMOTHORAX)], CONTEXT, template="Impression: ...\nFindings: ..."
    )
    sections = [s.section for s in sentences]
    assert sections[0] == "impression"
    assert "recommendations" not in sections


def test_it_builds_a_draft_with_model_labels_and_timing(
    drafter: RetrievalDrafter, iu_bank: SentenceBank
) -> None:
    findings = [_finding(Label.PNEUMOTHORAX, 0.9, Laterality.LEFT)]
    draft = draft_from_findings(
        findings,
        CONTEXT,
        bank=iu_bank,
        model_name="retrieval",
        model_version="iu-xray-minilm-1",
        drafter=drafter,
    )
    assert draft.model_name == "retrieval"
    assert draft.model_version == "iu-xray-minilm-1"
    assert draft.findings == tuple(findings)
    assert label_report(draft.findings_text)[Label.PNEUMOTHORAX] is Mention.POSITIVE
    assert draft.impression
    assert draft.recommendations
    assert draft.timings_ms["compose"] >= 0.0


def test_it_ranks_sides_as_documented() -> None:
    left, right, both = Laterality.LEFT, Laterality.RIGHT, Laterality.BILATERAL
    assert side_tier(left, (left,)) == 0
    assert side_tier(left, ()) == 1
    assert side_tier(left, (right,)) == 2
    assert side_tier(left, (both,)) == 3
    assert side_tier(Laterality.NONE, ()) == 0
    assert side_tier(Laterality.NONE, (left,)) == 3
    assert side_tier(both, (left, right)) == 0
    assert substitute_side("Right effusion; right base.", left) == "Left effusion; left base."


def test_it_restates_the_findings_sentence_when_no_impression_wording_is_alike() -> None:
    encoder = HashingEncoder()
    bank = SentenceBank.from_texts(
        [("r1", "FINDINGS: Small right pleural effusion. IMPRESSION: Heart failure.")],
        "test",
        encoder=encoder,
    )
    sentences = RetrievalDrafter(bank, encoder).compose(
        [_finding(Label.PLEURAL_EFFUSION, side=Laterality.RIGHT)], ClinicalContext()
    )
    impression = [(s.text, s.source) for s in sentences if s.section == "impression"]
    assert impression == [("Small right pleural effusion.", "test:r1")]
