"""The risk gate: which refunds matter enough to watch, and why."""

from risk.rules import RiskLevel, RiskRules, RiskRulesError, load_rules
from risk.scoring import RiskAssessmentResult, RiskInput, RiskReason, assess
from risk.signals import LogisticsAnomaly, RefundSignals

__all__ = [
    "LogisticsAnomaly",
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
