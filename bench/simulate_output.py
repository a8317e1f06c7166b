"""The simulation's report: rich tables, bench/results/<name>.json and <name>.png."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.report import save, summary
from bench.simulate import SimulationResult
from bench.simulate_summary import CHANNELS, MoneyTotal
from domain.money import from_minor

__all__ = ["print_result", "result_json", "save_result"]

LABELS = {"no_alerts": "no alerts", "in_app_only": "in-app only", "full": "full ladder"}
CHANNEL_LABELS = {"in_app": "in-app", "sms": "SMS", "call": "call", "unprompted": "unprompted",
                  "none": "nothing"}  # fmt: skip
_COLOURS = {"unprompted": "#bbbbbb", "in_app": "#7fb3d5", "sms": "#2e86c1", "call": "#1b4f72"}


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _cost(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.4f}"


def _line(total: MoneyTotal) -> str:
    return f"{total.count} · {total.converted:,.0f}" if total.count else "0"


def _title(result: SimulationResult) -> str:
    params = result.params
    watched = result.summaries[0].at_risk.count
    return (
        f"money-saved simulation — {params.population.refunds} refunds ({watched} watched by "
        f"the risk gate), seed {params.seed}, 1 policy hour = "
        f"{params.time.seconds_per_policy_hour:g} s; money in {params.money.report_currency} "
        "at the file's fixed rates"
    )


def print_result(result: SimulationResult, console: Console) -> None:
    unit = result.params.money.report_currency
    money = Table(title=_title(result), title_justify="left")
    for column in ("arm", "watched", "at risk", "saved", "lost", "open", "saved %",
                   "extra saved vs no alerts", f"Twilio cost ({unit})",
                   "Twilio per 1,000 saved", "Twilio per 1,000 extra saved"):  # fmt: skip
        money.add_column(column, justify="left" if column == "arm" else "right")
    for arm in result.summaries:
        share = arm.saved_share
        money.add_row(
            LABELS[arm.arm] + ("" if arm.ran_workflows else "*"),
            str(arm.at_risk.count),
            _money(arm.at_risk.converted),
            _money(arm.saved.converted),
            _money(arm.lost.converted),
            str(arm.still_open),
            "—" if share is None else f"{share}%",
            _money(arm.extra_saved_vs_no_alerts),
            _cost(arm.cost_total),
            _cost(arm.cost_per_1000_saved),
            _cost(arm.cost_per_1000_extra_saved),
        )
    console.print(money)
    console.print("* derived from the same population, not run: nothing is sent\n")

    channels = Table(
        title=f"per channel — refunds · {unit}: saved via the merchant's answering channel; "
        "lost after the last channel that reached the merchant",
        title_justify="left",
    )
    columns = [f"saved via {CHANNEL_LABELS[c]}" for c in (*CHANNELS, "unprompted")]
    columns += [f"lost after {CHANNEL_LABELS[c]}" for c in ("none", *CHANNELS)]
    for column in ("arm", *columns, "answered, decided too late"):
        channels.add_column(column, justify="left" if column == "arm" else "right")
    for arm in result.summaries:
        channels.add_row(
            LABELS[arm.arm],
            *(_line(arm.saved_via[c]) for c in (*CHANNELS, "unprompted")),
            *(_line(arm.lost_after[c]) for c in ("none", *CHANNELS)),
            str(arm.answered_but_lost),
        )
    console.print(channels)

    sends = Table(title="what was sent (the arms' databases)", title_justify="left")
    for column in ("arm", "in-app notices", "SMS sent", "SMS delivered", "calls placed",
                   "calls answered by a person", "voicemail", f"SMS cost ({unit})",
                   f"call cost ({unit})"):  # fmt: skip
        sends.add_column(column, justify="left" if column == "arm" else "right")
    for arm in result.summaries:
        if not arm.ran_workflows:
            continue
        s = arm.sends
        sends.add_row(
            LABELS[arm.arm], str(s["in_app_notices"]), str(s["sms_sent"]), str(s["sms_reached"]),
            str(s["call_sent"]), str(s["call_reached"]), str(s["call_voicemail"]),
            _cost(arm.cost["sms"]), _cost(arm.cost["call"]),
        )  # fmt: skip
    console.print(sends)

    currencies = Table(title="per currency (major units, not converted)", title_justify="left")
    for column in ("arm", "currency", "at risk", "saved", "lost"):
        currencies.add_column(column, justify="left" if column in ("arm", "currency") else "right")
    for arm in result.summaries:
        for code in arm.at_risk.minor:
            values = [
                from_minor(t.minor.get(code, 0), code) for t in (arm.at_risk, arm.saved, arm.lost)
            ]
            currencies.add_row(LABELS[arm.arm], code, *(f"{v:,}" for v in values))
    console.print(currencies)
    for arm in result.summaries:
        steps, closed = arm.step_lateness_s, arm.timeout_lateness_s
        if steps and closed:
            console.print(
                f"{LABELS[arm.arm]}: ladder steps sent p50 {steps['p50']:.2f} s / p99 "
                f"{steps['p99']:.2f} s after their planned time; timed-out refunds closed p50 "
                f"{closed['p50']:.2f} s / max {closed['max']:.2f} s after their deadline"
            )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    load = result.load_average
    console.print(
        f"runtime {result.runtime_s:.0f} s; load average (1/5/15 min) at start "
        f"{load['start']}, at end {load['end']} on {os.cpu_count()} cores"
    )


def result_json(result: SimulationResult) -> dict[str, Any]:
    population = result.population
    return {
        "parameters": result.params.model_dump(mode="json"),
        "policies": result.policies,
        "population": {
            "refunds": len(population.refunds),
            "merchants": len(population.merchants),
            "abnormal": sum(1 for r in population.refunds if r.abnormal),
            "would_act_unprompted": sum(1 for r in population.refunds if r.unprompted_at),
            "would_notice_in_app": sum(1 for r in population.refunds if r.in_app_after_h),
            "would_act_on_sms": sum(1 for r in population.refunds if r.sms_after_h),
        },
        "arms": [arm.to_json() for arm in result.summaries],
        "driver": {
            name: {
                "actions": dict(report.actions),
                "errors": report.errors,
                "intake_lag_s": summary(report.intake_lag_s),
                "seconds": round(report.seconds, 1),
            }
            for name, report in result.drivers.items()
        },
        "method": {
            "money": "per currency in minor units; converted with money.rates, rounded once",
            "at_risk": "refunds the risk gate watched (tracked) in the full-ladder arm",
            "saved": "watched refunds the merchant decided before the deadline (state resolved)",
            "lost": "watched refunds that timed out (loss ledger)",
            "no_alerts": "derived, not run: saved only when behaviour.unprompted drew a decision",
            "twilio_cost": "prices the sandbox reported, fetched by scheduler.prices",
        },
        "notes": result.notes,
        "load_average_1_5_15_min": result.load_average,
        "arms_in_sequence": result.sequential,
        "runtime_s": round(result.runtime_s, 1),
    }


def _draw(result: SimulationResult) -> Any:
    unit = result.params.money.report_currency

    def draw(axes: Any) -> None:
        arms = result.summaries
        xs = range(len(arms))
        for x, arm in zip(xs, arms, strict=True):
            bottom = 0.0
            for channel in ("unprompted", *CHANNELS):
                height = float(arm.saved_via[channel].converted)  # plotting only
                label = (
                    ("saved unprompted" if channel == "unprompted" else
                     f"saved via {CHANNEL_LABELS[channel]}") if x == 0 else None
                )  # fmt: skip
                axes.bar(x - 0.2, height, 0.38, bottom=bottom, color=_COLOURS[channel], label=label)
                bottom += height
            axes.bar(x + 0.2, float(arm.lost.converted), 0.38, color="#c0392b",
                     label="lost" if x == 0 else None)  # fmt: skip
            cost = arm.cost_per_1000_saved
            text = f"Twilio {arm.cost_total:,.2f}" + (
                f"\n{cost:,.3f} per 1,000 saved" if cost is not None and arm.cost_total else ""
            )
            axes.annotate(text, (x - 0.2, bottom), ha="center", va="bottom", fontsize=8,
                          xytext=(0, 3), textcoords="offset points")  # fmt: skip
        axes.set_xticks(list(xs), [LABELS[a.arm] for a in arms])
        axes.set_ylabel(f"{unit} (fixed rates)")
        axes.set_title(
            f"{result.params.population.refunds} refunds, seed {result.params.seed}: "
            f"money saved and lost by arm"
        )
        axes.margins(y=0.18)
        axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=5)

    return draw


def save_result(result: SimulationResult, name: str = "simulate") -> None:
    save(name, result_json(result), _draw(result))
