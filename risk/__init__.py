"""The risk gate: which refunds matter enough to watch, and why.

Rules come from a YAML file (docs/risk-rules.md) loaded with `load_rules`; `assess` is pure.
"""

from risk.buyer_history import BuyerHistory, OutcomeCounts, PriorOutcome
from risk.levels import RiskLevel
from risk.reasons import RiskReason
from risk.results import RiskAssessmentResult, RiskInput
from risk.rules import RiskRules, RiskRulesError, load_rules
from risk.scoring import assess
from risk.signals import LogisticsAnomaly, RefundSignals

__all__ = [
    "BuyerHistory",
    "LogisticsAnomaly",
    "OutcomeCounts",
    "PriorOutcome",
    "RefundSignals",
    "RiskAssessmentResult",
    "RiskInput",
    "RiskLevel",
    "RiskReason",
    "RiskRules",
    "RiskRulesError",
    "assess",
    "load_rules",
]
