"""Money-saved simulation: a seeded population of refunds runs through the real system, once
with the full ladder (in-app → SMS → calls) and once with in-app notices only, side by side on
compressed time; a third arm, no alerts, is derived from the same population.

    refundwatch simulate --params bench/simulate.yaml --seed 7 --refunds 300

Per arm: money at risk (refunds the risk gate watches), saved (the merchant decided before the
deadline), lost (the loss ledger), saves per answering channel, the Twilio cost the sandbox
priced (fetched with the scheduler's price job) and the cost per 1,000 saved. Results:
``bench/results/simulate.{json,png}``.

Modules: simulate_params (the file), simulate_population (seeded draws), simulate_policy
(compressed policies), simulate_stack (processes), simulate_driver (platform + merchants),
simulate_outcomes (the databases), simulate_summary (arithmetic), simulate_output (report).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bench.simulate_driver import ArmDriver, DriverReport
from bench.simulate_outcomes import ArmOutcome, no_alerts_outcome, read_outcome
from bench.simulate_params import ParamsError, SimulationParams, load_params
from bench.simulate_policy import write_policies
from bench.simulate_population import Population, build_population
from bench.simulate_stack import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    ArmProcesses,
    ArmSetup,
    simulation_stack,
)
from bench.simulate_summary import ArmSummary, Rates, summarise
from notifier.twilio_notifier import TwilioNotifier
from scheduler.prices import backfill_prices

__all__ = [
    "ARMS",
    "DEFAULT_PARAMS",
    "ParamsError",
    "SimulationResult",
    "load",
    "run_simulation",
]

DEFAULT_PARAMS = Path(__file__).with_name("simulate.yaml")
# Workflow arms and the refund-id prefix of each (one Temporal namespace: ids must differ).
ARMS = {"full": "SIM-F-", "in_app_only": "SIM-I-"}
_SETTLE_S = 2.0  # lets the last call/SMS callbacks land before prices are fetched


@dataclass
class SimulationResult:
    params: SimulationParams
    population: Population
    summaries: list[ArmSummary]
    drivers: dict[str, DriverReport]
    policies: dict[str, Any]
    runtime_s: float
    notes: list[str] = field(default_factory=list)
    load_average: dict[str, list[float]] = field(default_factory=dict)
    sequential: bool = False


def load(path: Path, *, seed: int | None = None, refunds: int | None = None) -> SimulationParams:
    """The parameters file with the command line's overrides; ParamsError names bad fields."""
    return load_params(path).with_overrides(seed=seed, refunds=refunds)


async def _price(arm: ArmProcesses) -> None:
    """The scheduler's price job, run now rather than 30 s after each send settled."""
    notifier = TwilioNotifier(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        api_base_url=arm.sandbox_url,
    )
    try:
        await backfill_prices(arm.sessions, notifier, settled_for=timedelta(0), limit=100_000)
    finally:
        await notifier.close()


def _setups(params: SimulationParams, policies: dict[str, Path], scenario: Path) -> list[ArmSetup]:
    sending = params.sending
    return [
        ArmSetup(
            name=name,
            policy=policies[name],
            scenario=scenario,
            calls_per_second=sending.calls_per_second,
            sms_per_second=sending.sms_per_second,
            sms_per_merchant_per_hour=sending.sms_per_merchant_per_hour,
        )
        for name in ARMS
    ]


async def _run_together(
    setups: list[ArmSetup],
    population: Population,
    params: SimulationParams,
    data_dir: Path,
    progress: Callable[[str], None],
) -> tuple[dict[str, DriverReport], dict[str, ArmOutcome]]:
    """These arms side by side on one Temporal dev server; their reports and outcomes."""
    names = [setup.name for setup in setups]
    progress(f"starting Temporal and, per arm ({', '.join(names)}), database, sandbox, API, worker")
    async with simulation_stack(setups, data_dir) as running:
        progress(f"running {' and '.join(names)} …")
        drivers = [
            ArmDriver(running[name], population, params, prefix=ARMS[name], progress=progress)
            for name in names
        ]
        reports = dict(zip(names, await asyncio.gather(*(d.run() for d in drivers)), strict=True))
        await asyncio.sleep(_SETTLE_S)
        outcomes: dict[str, ArmOutcome] = {}
        for name, arm in running.items():
            await _price(arm)
            ids = {refund_id: index for index, refund_id in reports[name].refund_ids.items()}
            outcomes[name] = await read_outcome(name, arm.sessions, ids)
    return reports, outcomes


async def _run_arms(
    params: SimulationParams,
    population: Population,
    work: Path,
    progress: Callable[[str], None],
    sequential: bool,
) -> tuple[dict[str, DriverReport], dict[str, ArmOutcome], dict[str, Any]]:
    policies = write_policies(
        params.policy.base,
        work,
        seconds_per_hour=params.time.seconds_per_policy_hour,
        call_result_timeout_s=params.time.call_result_timeout_s,
    )
    scenario = work / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(dict(population.scenario), sort_keys=True))
    setups = _setups(params, policies, scenario)
    batches = [[setup] for setup in setups] if sequential else [setups]
    reports: dict[str, DriverReport] = {}
    outcomes: dict[str, ArmOutcome] = {}
    for batch in batches:
        data_dir = work / batch[0].name if sequential else work
        more_reports, more_outcomes = await _run_together(
            batch, population, params, data_dir, progress
        )
        reports |= more_reports
        outcomes |= more_outcomes
    texts = {name: yaml.safe_load(path.read_text()) for name, path in policies.items()}
    return reports, outcomes, texts


async def run_simulation(
    params: SimulationParams,
    *,
    progress: Callable[[str], None] = lambda _: None,
    keep_files: bool = False,
    sequential: bool = False,
) -> SimulationResult:
    """Run the workflow arms (side by side, or one after the other with ``sequential``: half
    the load on the machine, twice the time), derive the no-alerts arm, summarise."""
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    population = build_population(params)
    work = Path(tempfile.mkdtemp(prefix="refundwatch-sim-"))
    try:
        drivers, outcomes, policies = await _run_arms(
            params, population, work, progress, sequential
        )
    except BaseException:
        keep_files = True  # the process logs say why
        raise
    finally:
        if keep_files:
            progress(f"files and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    rates = Rates(params.money.report_currency, params.money.rates)
    none = summarise(no_alerts_outcome(population, drivers["full"].tracked), rates)
    summaries = [
        none,
        summarise(outcomes["in_app_only"], rates, baseline_saved=none.saved.converted),
        summarise(outcomes["full"], rates, baseline_saved=none.saved.converted),
    ]
    notes = []
    differ = sum(
        1
        for index, tracked in drivers["full"].tracked.items()
        if drivers["in_app_only"].tracked.get(index) != tracked
    )
    if differ:
        notes.append(f"the risk gate watched {differ} refunds in one workflow arm only")
    hour = params.time.seconds_per_policy_hour
    for arm in summaries:
        late = arm.step_lateness_s.get("p50", 0.0)
        if late > 0.25 * hour:  # a quarter of an hour of policy time
            notes.append(
                f"{arm.arm}: ladder steps ran {late:.1f} s late (p50), {late / hour:.2f} policy "
                "hours: the machine was too busy for this compression (raise "
                "time.seconds_per_policy_hour or lower --refunds)"
            )
    errors = sum(report.actions["driver_errors"] for report in drivers.values())
    if errors:
        notes.append(f"{errors} merchant/platform actions failed (HTTP errors); see the JSON")
    return SimulationResult(
        params=params,
        population=population,
        summaries=summaries,
        drivers=drivers,
        policies=policies,
        runtime_s=time.monotonic() - started,
        notes=notes,
        load_average={"start": load_before, "end": [round(x, 2) for x in os.getloadavg()]},
        sequential=sequential,
    )
