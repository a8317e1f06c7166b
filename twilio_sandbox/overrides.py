"""Webhook connection overrides: the `#ct=…&rt=…&tt=…&rc=…&rp=…` fragment of a webhook URL.

https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides: "Connection
overrides will be passed on a per webhook URL basis in the form of "fragments" … The 1st
key-value pair start with #." Ranges and defaults from that page:

| key | meaning | valid | default |
|---|---|---|---|
| ct | connect timeout, ms | 100–10000 | 5000 |
| rt | read timeout, ms | 100–15000 | 15000 |
| tt | total time for all attempts, ms | 100–15000 | 15000 |
| rc | retry count | 0–5 | 1 |
| rp | retry policy: comma list of ct, rt, 4xx, 5xx, all | — | none (see below) |

The page's `rp` row could not be read, so its default is not known. Issue 12's
rule is that Twilio does not retry a failed callback unless the URL asks for it; the sandbox
takes that strict reading: without `rp`, no failure is retried, whatever `rc` says. Invalid
values are refused as Twilio does: a notification (11243 for `rp`; 11100 "Invalid URL format",
the closest documented code, for the others, which have none of their own) and the request is
made with the defaults. A fragment is never sent over HTTP, and signatures are computed over
the URL without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urldefrag

__all__ = ["FailureClass", "OverrideProblem", "Overrides", "parse_overrides"]

FailureClass = str  # "ct" (could not connect), "rt" (no answer in time), "4xx", "5xx"
_POLICIES = frozenset({"ct", "rt", "4xx", "5xx", "all"})
_RANGES = {"ct": (100, 10_000), "rt": (100, 15_000), "tt": (100, 15_000), "rc": (0, 5)}
_IGNORED = frozenset({"e", "sni"})  # edge location and SNI: not imitated


@dataclass(frozen=True)
class OverrideProblem:
    code: int
    message: str


@dataclass(frozen=True)
class Overrides:
    connect_ms: int = 5000
    read_ms: int = 15_000
    total_ms: int = 15_000
    retries: int = 1
    policy: frozenset[str] = field(default_factory=frozenset)

    def retries_on(self, failure: FailureClass) -> bool:
        return "all" in self.policy or failure in self.policy


def _number(key: str, raw: str) -> int | None:
    low, high = _RANGES[key]
    if not raw.isdigit() or not low <= int(raw) <= high:
        return None
    return int(raw)


def parse_overrides(url: str) -> tuple[str, Overrides, list[OverrideProblem]]:
    """The URL to request (fragment removed), its overrides, and what was refused in them."""
    bare, fragment = urldefrag(url)
    if not fragment:
        return bare, Overrides(), []
    values: dict[str, int] = {}
    policy: frozenset[str] = frozenset()
    problems: list[OverrideProblem] = []
    for key, raw in parse_qsl(fragment, keep_blank_values=True):
        if key in _RANGES:
            number = _number(key, raw)
            if number is None:
                low, high = _RANGES[key]
                problems.append(OverrideProblem(11100, f"#{key}={raw}: must be {low}-{high}"))
            else:
                values[key] = number
        elif key == "rp":
            chosen = {part.strip() for part in raw.split(",") if part.strip()}
            if not chosen or chosen - _POLICIES:
                problems.append(OverrideProblem(
                    11243,
                    f"#rp={raw}: One or more retry policies specified in the 'rp' parameter "
                    "of your connection settings are invalid.",
                ))  # fmt: skip
            else:
                policy = frozenset(chosen)
        elif key not in _IGNORED:
            problems.append(OverrideProblem(11100, f"#{key}: not a connection override"))
    if problems:
        return bare, Overrides(), problems
    defaults = Overrides()
    return bare, Overrides(
        connect_ms=values.get("ct", defaults.connect_ms),
        read_ms=values.get("rt", defaults.read_ms),
        total_ms=values.get("tt", defaults.total_ms),
        retries=values.get("rc", defaults.retries),
        policy=policy,
    ), []  # fmt: skip
