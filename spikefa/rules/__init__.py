"""Learning rules: one registry of rules (with what the harness must know of each) and one of
feedback kinds."""

from spikefa.functional.feedback import FEEDBACK_KINDS, FeedbackKind, get_kind
from spikefa.rules.registry import RULES, Rule, check_card, convert, get_rule

__all__ = ["FEEDBACK_KINDS", "FeedbackKind", "RULES", "Rule", "check_card", "convert", "get_kind", "get_rule"]
