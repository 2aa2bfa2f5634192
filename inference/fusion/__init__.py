"""Late fusion of the image model's probabilities with the structured clinical context.

For each label, a logistic model over standardised inputs::

    logit(p_adjusted) = intercept + sum over inputs i of w_i * z_i,   z_i = (x_i - mean_i) / scale_i

where the inputs are the image model's image-only logits (group ``image``) and context features
(groups ``demographics``, ``history``, ``labs_vitals``, ``priors``). An absent input has
``z_i = 0``: it adds nothing, and it is named in the result. The contribution of a group is the
sum of ``w_i * z_i`` over its inputs, so the contributions add up *exactly* to the adjusted
logit minus the intercept. Imports no Django.
"""

from inference.fusion.inputs import FusionInputs, InputGroup, Measurement
from inference.fusion.model import FusedFinding, FusionModel, LabelModel

__all__ = [
    "FusedFinding",
    "FusionInputs",
    "FusionModel",
    "InputGroup",
    "LabelModel",
    "Measurement",
]
