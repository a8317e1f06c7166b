"""Opening a merchant's action link (``/m/<token>``): which link, whose, and whether it still
opens; each opening and each refusal audited (``link.opened``, ``link.refused``).

Order of the checks, cheapest first, so a made-up token costs no database read: the token's
HMAC tag (tampered or invented → refused before the database), then its row (unknown), then
revocation, then whether its refunds are still open (expired once they all closed, after a
short grace in which the page shows what happened). A refusal records only itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import structlog

from application.services import Services
from db.audit import append_audit
from db.merchant_links import LinkState, MerchantLink, find_link, link_refunds, link_state
from db.models import Merchant, Refund
from domain.action_links import link_key, read_token

__all__ = ["LinkProblem", "LinkRefusedError", "OpenedLink", "links_key", "open_link"]

log = structlog.get_logger(__name__)


class LinkProblem(StrEnum):
    MALFORMED = "malformed"  # not a token's shape, or its tag does not match: tampered
    UNKNOWN = "unknown"  # a well-formed token no link has (never minted)
    REVOKED = "revoked"
    EXPIRED = "expired"  # its refunds closed (and the short grace after it passed)
    NOT_YOURS = "not_yours"  # a refund the link does not list


# HTTP status per problem: 404 for what never existed, 410 for what existed and ended.
STATUS = {
    LinkProblem.MALFORMED: 404,
    LinkProblem.UNKNOWN: 404,
    LinkProblem.REVOKED: 410,
    LinkProblem.EXPIRED: 410,
    LinkProblem.NOT_YOURS: 403,
}


class LinkRefusedError(Exception):
    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem

    @property
    def status_code(self) -> int:
        return STATUS[self.problem]


@dataclass(frozen=True)
class OpenedLink:
    link: MerchantLink
    merchant: Merchant
    refunds: list[Refund]
    state: LinkState

    @property
    def actionable(self) -> bool:
        return self.state == LinkState.LIVE

    def refund(self, refund_id: str) -> Refund:
        for refund in self.refunds:
            if refund.refund_id == refund_id:
                return refund
        raise LinkRefusedError(LinkProblem.NOT_YOURS)


def links_key(services: Services) -> bytes:
    return link_key(services.settings.merchant_token_secret.get_secret_value())


async def _refuse(
    services: Services,
    problem: LinkProblem,
    client: str,
    link: MerchantLink | None = None,
    refund_id: str | None = None,
    *,
    record: bool = True,
) -> LinkRefusedError:
    if not record:  # the page's own polling: its refusals are not new uses
        return LinkRefusedError(problem)
    async with services.sessions() as session:
        await append_audit(
            session,
            kind="link.refused",
            actor="merchant_link",
            merchant_id=link.merchant_id if link else None,
            refund_id=refund_id or (link.refund_ids[0] if link else None),
            detail={"reason": problem.value, "link": link.id if link else None, "client": client},
        )
        await session.commit()
    log.info("link_refused", reason=problem, link=link.id if link else None)
    return LinkRefusedError(problem)


async def open_link(
    services: Services,
    token: str,
    *,
    client: str,
    audit_as: str | None = "link.opened",
    refund_id: str | None = None,
) -> OpenedLink:
    """The link behind ``token`` with its refunds; raises LinkRefusedError (recorded).

    ``audit_as``: the audit kind of this use (None for the page's own refresh polling, which
    reads state without being a new opening). ``refund_id``: the use is about that refund,
    which the link must list."""
    read = read_token(links_key(services), token)
    if read is None:
        raise await _refuse(services, LinkProblem.MALFORMED, client, record=audit_as is not None)
    async with services.sessions() as session:
        link = await find_link(session, read.id_hash)
        problem: LinkProblem | None = LinkProblem.UNKNOWN
        if link is not None:
            refunds = await link_refunds(session, link)
            merchant = await session.get(Merchant, link.merchant_id)
            state = link_state(link, refunds)
            problem = {
                LinkState.REVOKED: LinkProblem.REVOKED,
                LinkState.EXPIRED: LinkProblem.EXPIRED,
            }.get(state)
            listed = {r.refund_id for r in refunds}
            if problem is None and refund_id is not None and refund_id not in listed:
                problem = LinkProblem.NOT_YOURS
        if problem is None:
            assert link is not None
            assert merchant is not None
            if audit_as is not None:
                await append_audit(
                    session,
                    kind=audit_as,
                    actor="merchant_link",
                    merchant_id=link.merchant_id,
                    # On the timeline of the refund it is about (the SMS's own, by default).
                    refund_id=refund_id or link.refund_ids[0],
                    detail={"link": link.id, "refunds": link.refund_ids, "client": client},
                )
                await session.commit()
            return OpenedLink(link, merchant, refunds, state)
    assert problem is not None
    raise await _refuse(services, problem, client, link, refund_id, record=audit_as is not None)
