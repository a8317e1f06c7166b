"""The fault tests' harness (tests/test_faults.py): a batch of refunds played through the API as
the platform plays them, while something breaks, and the checks of what a user would check.

* ``scenarios`` — the merchants' sandbox behaviours, the batches' mixes, size and seed;
* ``watch`` — one refund of a batch: when things happened to it, and which outcomes are right;
* ``batch`` — submitting the batch, the platform resolving answered refunds, reading outcomes
  and what the sandbox log and the database recorded;
* ``checks`` — the assertions: right outcomes, records that agree, each send once;
* ``isolation`` — each test's own sandbox, settings, task queue and worker.
"""
