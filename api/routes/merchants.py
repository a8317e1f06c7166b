"""POST /v1/merchants: the platform creates or updates a merchant and its contacts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from sqlmodel import select

from api.auth import Caller, require_platform
from api.deps import get_services
from application.schemas import MerchantIn, MerchantOut
from application.services import Services
from db.audit import append_audit
from db.models import Contact, Merchant, utcnow

router = APIRouter(prefix="/v1/merchants", tags=["merchants"])


@router.post("", response_model=MerchantOut, status_code=status.HTTP_201_CREATED)
async def upsert_merchant(
    body: MerchantIn,
    response: Response,
    services: Annotated[Services, Depends(get_services)],
    _caller: Annotated[Caller, Depends(require_platform)],
) -> MerchantOut:
    now = utcnow()
    async with services.sessions() as session:
        merchant = await session.get(Merchant, body.merchant_id)
        created = merchant is None
        if merchant is None:
            merchant = Merchant(
                merchant_id=body.merchant_id,
                name=body.name,
                timezone=body.timezone,
                language=body.language,
                quiet_start=body.quiet_hours.start if body.quiet_hours else None,
                quiet_end=body.quiet_hours.end if body.quiet_hours else None,
                created_at=now,
                updated_at=now,
            )
        else:
            merchant.name, merchant.timezone = body.name, body.timezone
            merchant.language, merchant.updated_at = body.language, now
            merchant.quiet_start = body.quiet_hours.start if body.quiet_hours else None
            merchant.quiet_end = body.quiet_hours.end if body.quiet_hours else None
        session.add(merchant)
        await session.flush()
        existing = {
            c.phone: c
            for c in (
                await session.exec(select(Contact).where(Contact.merchant_id == body.merchant_id))
            ).all()
        }
        for item in body.contacts:
            contact = existing.pop(item.phone, None) or Contact(
                merchant_id=body.merchant_id,
                phone=item.phone,
                name=item.name,
                priority=item.priority,
            )
            # Opt-out state stays with the number across updates.
            contact.name, contact.priority, contact.active = item.name, item.priority, True
            session.add(contact)
        for removed in existing.values():
            removed.active = False
            session.add(removed)
        await append_audit(
            session,
            kind="merchant.created" if created else "merchant.updated",
            actor="platform",
            merchant_id=body.merchant_id,
            detail={"contacts": len(body.contacts), "timezone": body.timezone},
        )
        await session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    return MerchantOut(merchant_id=body.merchant_id, created=created, contacts=len(body.contacts))
