"""Learning rules: one registry of rules and one of feedback kinds."""

from spikefa.rules.feedback import FEEDBACK_KINDS, FeedbackKind, get_kind
from spikefa.rules.registry import RULES, Rule, convert, get_rule

__all__ = ["FEEDBACK_KINDS", "FeedbackKind", "RULES", "Rule", "convert", "get_kind", "get_rule"]
