"""Knowledge distillation: the student also matches the softened predictions of teachers.

Teachers (folders or Hub ids, any architecture and input size) run in inference mode on
the very batch the student sees, augmentation and mixup included; several teachers are
averaged. The loss is Hinton et al.'s: KL divergence between the temperature-softened
distributions, times T^2 so its gradients keep their scale as T changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fer.hub.resolve import load_model
from fer.model.checkpoint import LoadedModel
from fer.model.labels import CLASS_NAMES
from fer.model.preprocess import Preprocess
from fer.utils.device import Compute


def load_teacher(reference: str) -> LoadedModel:
    """A teacher's checkpoint, refused unless it predicts this project's classes in their order."""
    member = load_model(reference)
    if list(member.label_names) != list(CLASS_NAMES):
        raise ValueError(f"teacher {reference} predicts {member.label_names}, not {list(CLASS_NAMES)}")
    return member


class Teachers:
    """Frozen models whose averaged, temperature-softened probabilities the student learns."""

    def __init__(self, references: list[str], compute: Compute, temperature: float):
        self.members: list[LoadedModel] = [load_teacher(ref) for ref in references]
        for member in self.members:
            compute.prepare_model(member.model).eval().requires_grad_(False)
        self.references = references
        self.compute = compute
        self.temperature = temperature

    @torch.no_grad()  # not inference_mode: its tensors may not enter the student's autograd graph
    def soft_targets(self, x: torch.Tensor, student: Preprocess) -> torch.Tensor:
        """Averaged softened probabilities for a batch prepared with the student's preprocessing."""
        total = 0
        for member in self.members:
            inputs = self.compute.prepare_input(_reprocess(x, student, member.preprocess))
            with self.compute.autocast():
                logits = member.model(inputs).float()
            total = total + (logits / self.temperature).softmax(dim=1)
        return total / len(self.members)


def distillation_loss(student_logits: torch.Tensor, soft_targets: torch.Tensor, temperature: float) -> torch.Tensor:
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(log_student, soft_targets, reduction="batchmean") * temperature**2


def _reprocess(x: torch.Tensor, source: Preprocess, target: Preprocess) -> torch.Tensor:
    """Re-express a normalised batch in another model's size and normalisation."""
    if source == target:
        return x
    mean_s, std_s = source.mean[0], source.std[0]
    pixels = x * std_s + mean_s
    if target.size != x.shape[-1]:
        pixels = F.interpolate(pixels, size=(target.size, target.size), mode="bilinear", align_corners=False)
    return (pixels - target.mean[0]) / target.std[0]
