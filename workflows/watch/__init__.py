"""The parts of RefundWatchWorkflow (workflows/refund_watch.py), each readable on its own:

- ``state``: everything the watch knows, in one dataclass;
- ``records``: the bookkeeping every part shares (audit, stage, telling the platform, the end);
- ``escalation``: the ladder, its replanning, and the lighter watch after an answer;
- ``steps``: running one step (in-app notice, SMS, calls with retries and backup contacts);
- ``dispute``: the evidence window after a dispute or a one-click rejection.

Workflow code only: deterministic, no I/O (activities do that), imported in the sandbox.
"""
