"""List endpoints: Twilio's filters and paging for Calls.json and Messages.json.

From twilio/twilio-oai spec/json/twilio_api_v2010.json @ d50069b (ListCall, ListMessage):
- Calls: `To`, `From`, `ParentCallSid`, `Status`, `StartTime` ("started on this date"),
  `StartTime<` ("started before this date"), `StartTime>` ("on or after"), the same three for
  `EndTime`; Messages: `To`, `From`, `DateSent` (that day), `DateSent<` ("on and before"),
  `DateSent>` ("on and after"). Dates are "`YYYY-MM-DD` in UTC". twilio-python sends a
  datetime as `%Y-%m-%dT%H:%M:%SZ` (twilio/base/serialize.py iso8601_datetime); the spec's
  examples also pass RFC 2822 and other forms. The sandbox reads all of these and keeps the
  UTC day only (Twilio documents day granularity: it is not kinder to compare times). A
  resource without the date (a call not yet dialed, a message not yet sent) matches no bound.
- `PageSize`: default 50, maximum 1000 (above it 400 / 20007 "Page size too large");
  `Page` is "simply for client state"; `PageToken` "is provided by the API" (here `PA`/`PB`
  and the sid the page starts after / ends before).
- The envelope holds exactly `calls`|`messages`, `end`, `first_page_uri`, `next_page_uri`,
  `page`, `page_size`, `previous_page_uri`, `start`, `uri` (ListCallResponse /
  ListMessageResponse): twilio-python's Page takes the one key that is not a meta key, so any
  extra key breaks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from twilio_sandbox.errors import TwilioApiError
from twilio_sandbox.resources import Call, Message

__all__ = ["list_calls", "list_messages"]

_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000
_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
            "%m/%d/%Y %H:%M:%S")  # fmt: skip
_PAGING = ("PageSize", "Page", "PageToken")
Resource = TypeVar("Resource", Call, Message)
Render = Callable[[Resource], dict[str, Any]]


def _day(name: str, raw: str) -> date:
    text = raw.strip()
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:  # "Wed, 19 Jun 2019 22:04:00 -0000"
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError):
        pass
    parts = text.rsplit(" ", 1)  # "06/11/2019 22:05:25 MST": a named zone, day kept
    if len(parts) == 2:
        try:
            return datetime.strptime(parts[0], "%m/%d/%Y %H:%M:%S").date()
        except ValueError:
            pass
    raise TwilioApiError(400, 20001, f"{name} is not a date (use YYYY-MM-DD): {raw!r}")


def _date_filter(
    query: QueryParams, name: str, before_inclusive: bool
) -> Callable[[datetime | None], bool]:
    """A test on one resource date for `name`, `name<` and `name>` as the spec defines them."""
    on = _day(name, query[name]) if name in query else None
    before = _day(f"{name}<", query[f"{name}<"]) if f"{name}<" in query else None
    after = _day(f"{name}>", query[f"{name}>"]) if f"{name}>" in query else None

    def keep(moment: datetime | None) -> bool:
        if on is None and before is None and after is None:
            return True
        if moment is None:
            return False
        day = moment.date()
        if on is not None and day != on:
            return False
        if before is not None and (day > before if before_inclusive else day >= before):
            return False
        return after is None or day >= after

    return keep


def _page_size(query: QueryParams) -> int:
    raw = query.get("PageSize")
    if raw is None:
        return _DEFAULT_PAGE_SIZE
    if not raw.isdigit() or int(raw) < 1:
        raise TwilioApiError(400, 20001, f"PageSize must be a whole number from 1: {raw!r}")
    if int(raw) > _MAX_PAGE_SIZE:
        raise TwilioApiError(400, 20007, "Page size too large")
    return int(raw)


def _window(sids: Sequence[str], token: str | None, size: int) -> tuple[int, int]:
    """The [first, last) indexes of the page a PageToken names."""
    if token is None:
        return 0, min(size, len(sids))
    if len(token) < 3 or token[:2] not in {"PA", "PB"}:
        raise TwilioApiError(400, 20001, f"Invalid PageToken: {token!r}")
    anchor = token[2:]
    if anchor not in sids:
        return len(sids), len(sids)
    index = sids.index(anchor)
    if token.startswith("PA"):  # the page after this sid
        return index + 1, min(index + 1 + size, len(sids))
    return max(0, index - size), index  # the page before it


def _page(
    key: str, path: str, query: QueryParams, items: list[Resource], render: Render[Resource]
) -> dict[str, Any]:
    size = _page_size(query)
    raw_page = query.get("Page", "0")
    page = int(raw_page) if raw_page.isdigit() else 0
    sids = [item.sid for item in items]
    first, last = _window(sids, query.get("PageToken"), size)
    filters: list[tuple[str, str]] = [(k, v) for k, v in query.multi_items() if k not in _PAGING]

    def uri(page_index: int, token: str | None) -> str:
        pairs = [*filters, ("PageSize", str(size)), ("Page", str(page_index))]
        if token is not None:
            pairs.append(("PageToken", token))
        return f"{path}?{urlencode(pairs)}"

    shown = items[first:last]
    start = page * size
    more = bool(shown) and last < len(sids)
    return {
        key: [render(item) for item in shown],
        "end": start + len(shown) - 1 if shown else start,
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(page + 1, f"PA{sids[last - 1]}") if more else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1, f"PB{sids[first]}") if shown and first > 0 else None,
        "start": start,
        "uri": uri(page, query.get("PageToken")),
    }


def _same(resource: object, query: QueryParams, fields: dict[str, str]) -> bool:
    return all(
        getattr(resource, attr) == query[name] for name, attr in fields.items() if name in query
    )


def list_calls(
    path: str, query: QueryParams, calls: list[Call], render: Render[Call]
) -> dict[str, Any]:
    """Calls newest first, filtered as Twilio filters them, one page of them."""
    started = _date_filter(query, "StartTime", before_inclusive=False)
    ended = _date_filter(query, "EndTime", before_inclusive=False)
    fields = {"To": "to", "From": "from_", "Status": "status"}
    chosen = [
        call
        for call in reversed(calls)
        if _same(call, query, fields)
        and "ParentCallSid" not in query  # every call here is a parent: no child legs
        and started(call.start_time)
        and ended(call.end_time if call.status == "completed" else None)
    ]
    return _page("calls", path, query, chosen, render)


def list_messages(
    path: str, query: QueryParams, messages: list[Message], render: Render[Message]
) -> dict[str, Any]:
    """Messages newest first, filtered as Twilio filters them, one page of them."""
    sent = _date_filter(query, "DateSent", before_inclusive=True)
    fields = {"To": "to", "From": "from_"}
    chosen = [
        message
        for message in reversed(messages)
        if _same(message, query, fields) and sent(message.date_sent)
    ]
    return _page("messages", path, query, chosen, render)
