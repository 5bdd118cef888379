"""Label assignment and all-activity voting of an unsupervised spiking layer (Diehl & Cook 2015,
"Training and classification"; BindsNET ``assign_labels`` / ``all_activity``).

After learning, every neuron is assigned the class for which its average response (spike count)
over labelled presentations was highest; an input is then classified as the class whose assigned
neurons have the highest *mean* spike count.
"""

from __future__ import annotations

import torch

from spikefa.errors import SpikefaError

UNASSIGNED = -1


def class_rates(counts: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean response of each neuron to each class, [neurons, classes], from counts [N, neurons]
    and labels [N]; a class with no sample gets 0."""
    if counts.dim() != 2 or labels.shape != counts.shape[:1]:
        raise SpikefaError(f"label assignment: counts {tuple(counts.shape)} and labels {tuple(labels.shape)} "
                           "must be [N, neurons] and [N]")
    onehot = torch.nn.functional.one_hot(labels.long(), num_classes).to(counts.dtype)  # [N, C]
    per_class = onehot.sum(0).clamp(min=1)
    return (counts.t() @ onehot) / per_class


def assign_labels(counts: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(assignments [neurons] int64, rates [neurons, classes]): each neuron's class is the argmax of
    its mean response; a neuron that never fired is ``UNASSIGNED`` (-1) and takes no part in votes
    (BindsNET assigns it class 0, which dilutes class 0's mean)."""
    rates = class_rates(counts, labels, num_classes)
    assignments = rates.argmax(1)
    assignments[rates.sum(1) <= 0] = UNASSIGNED
    return assignments, rates


def vote(counts: torch.Tensor, assignments: torch.Tensor, num_classes: int) -> torch.Tensor:
    """All-activity scores [N, classes]: the mean count of the neurons assigned to each class
    (0 for a class without neurons)."""
    if counts.dim() != 2 or assignments.shape != counts.shape[1:]:
        raise SpikefaError(f"voting: counts {tuple(counts.shape)} and assignments {tuple(assignments.shape)} "
                           "must be [N, neurons] and [neurons]")
    member = torch.zeros(assignments.shape[0], num_classes, dtype=counts.dtype, device=counts.device)
    assigned = assignments >= 0
    member[assigned.nonzero().squeeze(1), assignments[assigned]] = 1.0
    return (counts @ member) / member.sum(0).clamp(min=1)


def predict(counts: torch.Tensor, assignments: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The voted class [N] (ties go to the lower class index)."""
    return vote(counts, assignments, num_classes).argmax(1)
