"""Authorization policies: which user, through which client, may call which tool with which arguments."""

from drawbridge.policy.cedar import CedarPolicyEngine
from drawbridge.policy.engine import (
    Action,
    ClientInfo,
    Decision,
    PolicyEngine,
    PolicyError,
    PolicyProblem,
    PolicyRequest,
    Principal,
)
from drawbridge.policy.schema import build_schema

__all__ = [
    "Action",
    "CedarPolicyEngine",
    "ClientInfo",
    "Decision",
    "PolicyEngine",
    "PolicyError",
    "PolicyProblem",
    "PolicyRequest",
    "Principal",
    "build_schema",
]
