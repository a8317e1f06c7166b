"""`refundwatch links revoke`: switch off a merchant's action links (/m/<token>).

A revoked link answers 410 with a clear page ("This link was switched off"); its later
openings are audited as ``link.refused`` (reason ``revoked``). The revocation itself is
audited as ``link.revoked`` on each refund of the link.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cli import common

__all__ = ["register"]

links_app = typer.Typer(help="The merchants' action links (/m/<token> in every SMS).")


def register(app: typer.Typer) -> None:
    app.add_typer(links_app, name="links")


async def _revoke(merchant_id: str, refund_id: str | None, reason: str) -> int:
    from db.audit import append_audit
    from db.merchant_links import revoke_links

    settings = common.settings()
    async with common.sessions(settings) as sessions, sessions() as session:
        revoked = await revoke_links(session, merchant_id, reason, refund_id=refund_id)
        for link in revoked:
            await append_audit(
                session,
                kind="link.revoked",
                actor="cli",
                merchant_id=merchant_id,
                refund_id=link.refund_ids[0],
                detail={"link": link.id, "reason": reason, "refunds": link.refund_ids},
            )
        await session.commit()
    return len(revoked)


@links_app.command("revoke")
def revoke(
    merchant_id: Annotated[str, typer.Argument(help="The merchant whose links to switch off")],
    refund: Annotated[str | None, typer.Option(help="Only the links that list this refund")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept with the link)")] = "revoked by support",
) -> None:
    """Switch off the merchant's live action links (or those listing one refund)."""
    count = asyncio.run(_revoke(merchant_id, refund, reason))
    typer.echo(f"revoked {count} link(s) of merchant {merchant_id}")
