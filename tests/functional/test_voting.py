"""Label assignment and voting (spikefa/functional/voting.py) on a hand-made response matrix."""

from __future__ import annotations

import torch

from spikefa.functional.voting import assign_labels, predict, vote


def test_assignment_and_all_activity_vote_on_a_hand_made_response_matrix() -> None:
    # 4 neurons, 3 classes; neuron 3 never fires
    counts = torch.tensor([[5.0, 0, 1, 0], [4, 1, 0, 0], [0, 6, 1, 0], [1, 0, 8, 0], [0, 2, 6, 0]])
    labels = torch.tensor([0, 0, 1, 2, 2])
    assignments, rates = assign_labels(counts, labels, 3)
    torch.testing.assert_close(rates[0], torch.tensor([4.5, 0.0, 0.5]))
    assert assignments.tolist() == [0, 1, 2, -1]
    test = torch.tensor([[3.0, 1, 0, 9], [0, 2, 3, 9], [0, 0, 0, 0]])
    scores = vote(test, assignments, 3)
    torch.testing.assert_close(scores, torch.tensor([[3.0, 1, 0], [0, 2, 3], [0, 0, 0]]))
    assert predict(test, assignments, 3).tolist() == [0, 2, 0]
    # two neurons for class 0: the vote is their mean, so one loud neuron does not outvote a class
    scores = vote(torch.tensor([[4.0, 0, 3]]), torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(scores, torch.tensor([[2.0, 3.0]]))
