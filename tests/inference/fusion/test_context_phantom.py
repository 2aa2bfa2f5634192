"""inference.datasets.context_phantom: the same image with a different context has a
different truth and expected impression; cases are reproducible."""

from __future__ import annotations

from inference.datasets.context_phantom import context_cases, expected_impression, image_spec
from inference.datasets.phantom.spec import FindingKind
from inference.labels import Label


def _consolidation_spec() -> object:
    seed = next(
        s
        for s in range(200)
        if any(f.kind == FindingKind.CONSOLIDATION for f in image_spec(s, (128, 128)).findings)
    )
    return image_spec(seed, (128, 128))


def test_the_same_image_with_different_context_has_a_different_expected_impression() -> None:
    spec = _consolidation_spec()

    cases = context_cases(spec, 40, seed=3)  # type: ignore[arg-type]

    assert {c.spec for c in cases} == {spec}
    infected = [c for c in cases if c.infected]
    clean = [c for c in cases if not c.infected]
    assert infected and clean
    # the truth follows the context (up to the documented 3% label noise)
    assert sum(c.targets[Label.PNEUMONIA] for c in infected) >= 0.8 * len(infected)
    assert sum(c.targets[Label.PNEUMONIA] for c in clean) <= 0.2 * len(clean) + 1
    impressions = {c.expected_impression for c in cases}
    assert "Consolidation in keeping with pneumonia in this clinical context." in impressions
    assert any("without clinical signs of infection" in i for i in impressions)
    # every case keeps the image's own truth for the image labels
    assert all(c.targets[Label.CONSOLIDATION] == 1 for c in cases)


def test_infected_contexts_carry_fever_and_raised_inflammatory_markers() -> None:
    cases = context_cases(_consolidation_spec(), 200, seed=4)  # type: ignore[arg-type]

    def mean(code: str, infected: bool) -> float:
        values = [
            c.inputs.measurements[code].value
            for c in cases
            if c.infected is infected and code in c.inputs.measurements
        ]
        return sum(values) / len(values)

    assert mean("crp", True) > 5 * mean("crp", False)
    assert mean("temperature", True) > mean("temperature", False) + 1.0
    assert any(not c.inputs.measurements for c in cases)  # inputs go missing too


def test_cases_are_reproducible_and_without_consolidation_there_is_no_pneumonia_impression() -> (
    None
):
    spec = image_spec(1, (128, 128))
    assert context_cases(spec, 5, seed=9) == context_cases(spec, 5, seed=9)
    assert expected_impression({Label.PNEUMONIA: 0, Label.CONSOLIDATION: 0}) == "No consolidation."
