"""Evidence on disputed refunds, on the real stack: a merchant uploads photos and a PDF over
HTTP, support lists and downloads them byte for byte; every refusal stores nothing. Plus the
store (atomic, traversal-proof keys), the checks, and the risk gate's one-click evidence.

The workflow's dispute phase is not what is under test here: each refund is taken in through
the API and then put into the disputed state directly in the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy.exc import OperationalError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import merchant_token
from application.evidence import admit_evidence
from db.models import AuditEvent, EvidenceSubmission, Refund
from evidence import (
    EvidenceLimits,
    EvidenceRequest,
    InvalidStorageKeyError,
    LocalDirStore,
    StoredObjectMissingError,
    new_storage_key,
    record_risk_gate_evidence,
    submit_evidence,
)
from evidence.submissions import Admit
from evidence.validation import (
    FileTooLargeError,
    InvalidFieldError,
    UnsupportedFileTypeError,
    check_category,
    check_file,
    check_note,
    check_request_id,
    detect_type,
    sanitise_filename,
)
from tests.harness.stack import LiveStack
from tests.test_support_cli import refundwatch
from tests.test_support_pages import CHROMIUM, CHROMIUM_ARGS, SHOTS
from workflows.starter import watch_handle

NEVER = {"calls": [{"answer": "no-answer"}]}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x02" * 64
GIF = b"GIF89a" + b"\x00" * 64
LIMITS = EvidenceLimits(max_file_bytes=1024, max_files=3)

Upload = tuple[str, bytes, str]


# ---------------------------------------------------------------------------- the live stack
@dataclass
class Shop:
    merchant_id: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
async def opened(stack: LiveStack) -> AsyncIterator[list[str]]:
    """Refunds taken in by this module: cancelled at the end so no watch keeps running."""
    refund_ids: list[str] = []
    yield refund_ids
    for refund_id in refund_ids:
        await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution",
            headers=stack.platform(),
            json={"resolution": "cancelled", "event_id": f"ev-cancel-{refund_id}"},
        )


async def _shop(stack: LiveStack) -> Shop:
    merchant_id, _ = await stack.merchant([NEVER])
    token = merchant_token(stack.settings.merchant_token_secret.get_secret_value(), merchant_id)
    return Shop(merchant_id, {"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
async def shop(stack: LiveStack) -> Shop:
    return await _shop(stack)


@pytest.fixture(scope="module")
async def other_shop(stack: LiveStack) -> Shop:
    return await _shop(stack)


async def take_refund(
    stack: LiveStack, shop: Shop, opened: list[str], *, evidence_window_hours: int | None = 1
) -> str:
    body = stack.refund_body(shop.merchant_id, deadline_in=900)
    if evidence_window_hours is not None:
        body["evidence_window_hours"] = evidence_window_hours
    response = await stack.intake(body)
    assert response.status_code == 201, response.text
    assert response.json()["tracked"] is True
    opened.append(body["refund_id"])
    return str(body["refund_id"])


async def disputed_refund(
    stack: LiveStack, shop: Shop, opened: list[str], *, window_passed: bool = False
) -> str:
    """A watched refund its merchant disputed in the app, so its watch awaits evidence: for an
    hour (the platform's grant at intake), or, ``window_passed``, for the test policy's 16 s,
    waited out until the watch ends as ``evidence_missed``."""
    refund_id = await take_refund(
        stack, shop, opened, evidence_window_hours=None if window_passed else 1
    )
    disputed = await stack.http.post(
        f"/v1/merchant/refunds/{refund_id}/answer",
        headers=shop.headers,
        json={"action": "dispute", "request_id": f"dispute-{refund_id}"},
    )
    assert disputed.status_code == 200, disputed.text
    # Read the row itself: a support read would add a support.viewed record to the refund.
    for _ in range(200):
        async with stack.services.sessions() as session:
            refund = await session.get(Refund, refund_id)
            assert refund is not None
        if (refund.state == "evidence_missed") if window_passed else (refund.stage == "disputed"):
            return refund_id
        await asyncio.sleep(0.2)
    raise AssertionError(f"the watch of {refund_id} never reached its dispute state")


def admit_for(stack: LiveStack, shop: Shop, refund_id: str) -> Admit:
    """The watch's say on evidence, as the API asks it."""

    async def admit(at: datetime) -> None:
        await admit_evidence(stack.services, refund_id, shop.merchant_id, at)

    return admit


async def submit(
    stack: LiveStack,
    shop: Shop,
    refund_id: str,
    *,
    request_id: str = "ev-1",
    category: str = "empty_package",
    note: str = "",
    files: list[Upload] | None = None,
) -> httpx.Response:
    return await stack.http.post(
        f"/v1/refunds/{refund_id}/evidence",
        headers=shop.headers,
        data={"category": category, "note": note, "request_id": request_id},
        files=[("files", upload) for upload in files or []],
    )


def files_in(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def stored_files(stack: LiveStack) -> set[Path]:
    return set(files_in(stack.settings.evidence_dir))


async def submissions_of(stack: LiveStack, refund_id: str) -> int:
    async with stack.services.sessions() as session:
        statement = select(func.count()).where(EvidenceSubmission.refund_id == refund_id)
        return int((await session.exec(statement)).one())


async def audit_kinds(stack: LiveStack, refund_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with stack.services.sessions() as session:
        rows = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.refund_id == refund_id)
                .order_by(col(AuditEvent.id))
            )
        ).all()
    return [(row.kind, row.detail) for row in rows]


async def signals_received(stack: LiveStack, refund_id: str, name: str, expected: int) -> int:
    """How many ``name`` signals the watch's history holds, once it holds ``expected`` (or after
    5 s): a signal that arrives while a workflow task runs joins the history when it ends."""
    for _ in range(50):
        history = await watch_handle(stack.client, refund_id).fetch_history()
        count = sum(
            1
            for event in history.events
            if event.HasField("workflow_execution_signaled_event_attributes")
            and event.workflow_execution_signaled_event_attributes.signal_name == name
        )
        if count >= expected:
            return count
        await asyncio.sleep(0.1)
    return count


async def test_photos_and_a_pdf_reach_support_byte_for_byte(
    stack: LiveStack, shop: Shop, opened: list[str]
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    before = stored_files(stack)
    response = await submit(
        stack,
        shop,
        refund_id,
        note="The parcel arrived empty.\nPhoto of the box and the courier's weight record.",
        files=[("box photo.png", PNG, "image/png"), ("waybill.pdf", PDF, "application/pdf")],
    )
    assert response.status_code == 201, response.text
    submitted = response.json()
    assert submitted["source"] == "merchant" and submitted["category"] == "empty_package"
    assert [(f["filename"], f["content_type"], f["size_bytes"]) for f in submitted["files"]] == [
        ("box photo.png", "image/png", len(PNG)),
        ("waybill.pdf", "application/pdf", len(PDF)),
    ]
    assert len(stored_files(stack) - before) == 2

    listing = await stack.http.get(
        f"/v1/support/refunds/{refund_id}/evidence", headers=stack.support()
    )
    assert listing.status_code == 200, listing.text
    (evidence,) = listing.json()
    assert evidence["id"] == submitted["id"]
    assert evidence["note"].startswith("The parcel arrived empty.\n")
    for listed, original in zip(evidence["files"], (PNG, PDF), strict=True):
        assert listed["download_url"] == f"/v1/support/evidence/files/{listed['id']}"
        download = await stack.http.get(listed["download_url"], headers=stack.support())
        assert download.status_code == 200
        assert download.content == original
        assert hashlib.sha256(download.content).hexdigest() == listed["sha256"]
        assert download.headers["content-type"] == listed["content_type"]
        assert download.headers["content-disposition"].startswith("attachment;")
        assert listed["filename"].replace(" ", "%20") in download.headers["content-disposition"]
        assert download.headers["x-content-type-options"] == "nosniff"
    # Downloads need a support (or platform) token; the merchant's own list has no URLs.
    file_url = evidence["files"][0]["download_url"]
    assert (await stack.http.get(file_url, headers=shop.headers)).status_code == 403
    mine = await stack.http.get(f"/v1/merchant/refunds/{refund_id}/evidence", headers=shop.headers)
    assert mine.status_code == 200
    assert [f["download_url"] for f in mine.json()[0]["files"]] == [None, None]

    view = await stack.view(refund_id)
    assert [e["id"] for e in view["evidence"]] == [submitted["id"]]
    assert view["evidence_due_at"] is not None

    kinds = await audit_kinds(stack, refund_id)
    (recorded,) = [detail for kind, detail in kinds if kind == "evidence.submitted"]
    assert recorded["evidence_id"] == submitted["id"]
    assert [f["sha256"] for f in recorded["files"]] == [
        hashlib.sha256(PNG).hexdigest(),
        hashlib.sha256(PDF).hexdigest(),
    ]
    # Filenames and notes may carry names: the audit record holds sizes and hashes only.
    assert "box photo" not in json.dumps(recorded) and "parcel" not in json.dumps(recorded)
    views = [detail["view"] for kind, detail in kinds if kind == "support.viewed"]
    assert views.count("evidence") == 1 and views.count("evidence.file") == 2
    # Recorded first, then the watch was told.
    assert await signals_received(stack, refund_id, "evidence_submitted", 1) == 1


async def test_the_same_request_again_is_answered_with_the_first_submission(
    stack: LiveStack, shop: Shop, opened: list[str]
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    first = await submit(stack, shop, refund_id, request_id="ev-r1", files=[("a.jpg", JPEG, "")])
    assert first.status_code == 201, first.text
    files_after_first = stored_files(stack)

    again = await submit(stack, shop, refund_id, request_id="ev-r1", files=[("a.jpg", JPEG, "")])
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert stored_files(stack) == files_after_first, "a repeat stores nothing"
    assert await submissions_of(stack, refund_id) == 1
    # A repeat signals again (it may retry a 503); the watch de-duplicates by evidence id.
    assert await signals_received(stack, refund_id, "evidence_submitted", 2) == 2

    other_note = await submit(
        stack, shop, refund_id, request_id="ev-r1", note="more", files=[("a.jpg", JPEG, "")]
    )
    assert other_note.status_code == 409
    assert other_note.json()["detail"]["fields"] == ["note"]
    assert "ev-r1" in other_note.json()["detail"]["message"]
    other_file = await submit(
        stack, shop, refund_id, request_id="ev-r1", files=[("a.webp", WEBP, "image/webp")]
    )
    assert other_file.status_code == 409
    assert other_file.json()["detail"]["fields"] == ["files"]
    assert stored_files(stack) == files_after_first
    assert await submissions_of(stack, refund_id) == 1

    # A new request_id is new evidence; a note alone (no files) is evidence too.
    note_only = await submit(stack, shop, refund_id, request_id="ev-r2", note="see tracking")
    assert note_only.status_code == 201, note_only.text
    assert note_only.json()["files"] == []
    assert await submissions_of(stack, refund_id) == 2


async def test_two_identical_requests_at_once_record_one_submission(
    stack: LiveStack, shop: Shop, opened: list[str]
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    before = stored_files(stack)
    upload = [("a.png", PNG, "image/png")]
    first, second = await asyncio.gather(
        submit(stack, shop, refund_id, request_id="ev-race", files=upload),
        submit(stack, shop, refund_id, request_id="ev-race", files=upload),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 201], first.text
    assert first.json()["id"] == second.json()["id"]
    assert await submissions_of(stack, refund_id) == 1
    assert len(stored_files(stack) - before) == 1, "the loser's file was deleted again"


async def test_refused_submissions_store_nothing(
    stack: LiveStack, shop: Shop, other_shop: Shop, opened: list[str]
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    before = stored_files(stack)
    settings = stack.settings
    big = PNG[:8] + b"\x00" * settings.evidence_max_file_bytes

    async def refused(status: int, *, as_shop: Shop = shop, **kwargs: Any) -> httpx.Response:
        response = await submit(stack, as_shop, refund_id, **kwargs)
        assert response.status_code == status, response.text
        return response

    gif = await refused(415, files=[("ok.png", PNG, "image/png"), ("cat.png", GIF, "image/png")])
    assert "file 2 ('cat.png')" in gif.json()["detail"]
    assert "JPEG, PNG, WebP, PDF" in gif.json()["detail"]
    liar = await refused(415, files=[("scan.pdf", PNG, "application/pdf")])
    assert "'scan.pdf'" in liar.json()["detail"] and "PNG" in liar.json()["detail"]
    too_large = await refused(413, files=[("huge.png", big, "image/png")])
    assert "'huge.png'" in too_large.json()["detail"]
    many = [(f"p{i}.png", PNG, "image/png") for i in range(settings.evidence_max_files + 1)]
    too_many = await refused(422, files=many)
    assert too_many.json()["detail"][0]["loc"] == ["body", "files"]
    assert f"at most {settings.evidence_max_files} files" in too_many.json()["detail"][0]["msg"]
    empty = await refused(422, files=[("blank.png", b"", "image/png")])
    assert "'blank.png') is empty" in empty.json()["detail"][0]["msg"]
    category = await refused(422, category="looks_fine", files=[("a.png", PNG, "image/png")])
    assert category.json()["detail"][0]["loc"] == ["body", "category"]
    note = await refused(422, note="x" * 2001)
    assert note.json()["detail"][0]["loc"] == ["body", "note"]
    request_id = await refused(422, request_id="no spaces allowed")
    assert request_id.json()["detail"][0]["loc"] == ["body", "request_id"]
    stranger = await refused(403, as_shop=other_shop, files=[("a.png", PNG, "image/png")])
    assert "another merchant" in stranger.json()["detail"]
    unknown = await submit(stack, shop, "R-no-such-refund", files=[("a.png", PNG, "image/png")])
    assert unknown.status_code == 404

    assert stored_files(stack) == before
    assert await submissions_of(stack, refund_id) == 0


async def test_evidence_only_while_disputed_and_before_the_deadline(
    stack: LiveStack, shop: Shop, opened: list[str]
) -> None:
    before = stored_files(stack)
    watched = await take_refund(stack, shop, opened)
    not_disputed = await submit(stack, shop, watched, files=[("a.png", PNG, "image/png")])
    assert not_disputed.status_code == 409
    assert f"refund {watched} is not disputed" in not_disputed.json()["detail"]

    late = await disputed_refund(stack, shop, opened, window_passed=True)
    closed = await submit(stack, shop, late, files=[("a.png", PNG, "image/png")])
    assert closed.status_code == 409
    assert closed.json()["detail"].startswith("the evidence window closed at ")
    async with stack.services.sessions() as session:
        refund = await session.get(Refund, late)
        assert refund is not None and refund.evidence_due_at is not None
        assert refund.evidence_due_at.isoformat() in closed.json()["detail"]

    assert stored_files(stack) == before
    assert await submissions_of(stack, watched) == 0
    assert await submissions_of(stack, late) == 0


# ---------------------------------------------------------------------------- no half-states
class CommitFails(AsyncSession):
    """A database that takes the writes and then loses the connection at COMMIT."""

    async def commit(self) -> None:
        raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost"))


class CountingStore(LocalDirStore):
    """The local store, counting writes; ``fail_at`` makes that write (1-based) fail."""

    def __init__(self, root: Path, fail_at: int | None = None) -> None:
        super().__init__(root)
        self.puts = 0
        self.fail_at = fail_at

    async def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        if self.puts == self.fail_at:
            raise OSError(28, "No space left on device")
        await super().put(key, data)


def evidence_request(shop: Shop, refund_id: str, request_id: str) -> EvidenceRequest:
    return EvidenceRequest(
        refund_id=refund_id,
        merchant_id=shop.merchant_id,
        request_id=request_id,
        category="swapped_item",
        note="",
        files=[
            check_file("a.png", "image/png", PNG[:1000], LIMITS, 1),
            check_file("b.pdf", None, PDF[:1000], LIMITS, 2),
        ],
    )


async def test_a_failed_transaction_deletes_the_files_it_stored(
    stack: LiveStack, shop: Shop, opened: list[str], tmp_path: Path
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    store = CountingStore(tmp_path)
    async with CommitFails(stack.services.engine, expire_on_commit=False) as session:
        request = evidence_request(shop, refund_id, "ev-db")
        with pytest.raises(OperationalError):
            await submit_evidence(session, store, request, admit_for(stack, shop, refund_id))
    assert store.puts == 2, "both files were stored before the transaction"
    assert files_in(tmp_path) == []
    assert await submissions_of(stack, refund_id) == 0


async def test_a_failed_file_write_deletes_the_files_before_it(
    stack: LiveStack, shop: Shop, opened: list[str], tmp_path: Path
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    store = CountingStore(tmp_path, fail_at=2)
    async with stack.services.sessions() as session:
        request = evidence_request(shop, refund_id, "ev-disk")
        with pytest.raises(OSError, match="No space left"):
            await submit_evidence(session, store, request, admit_for(stack, shop, refund_id))
    assert files_in(tmp_path) == []
    assert await submissions_of(stack, refund_id) == 0


# ---------------------------------------------------------------------------- risk gate
async def test_risk_gate_evidence_is_recorded_once_with_the_reasons(
    stack: LiveStack, shop: Shop, opened: list[str]
) -> None:
    refund_id = await take_refund(stack, shop, opened)
    reasons = [
        {"code": "logistics.empty_package", "points": 30, "text": "courier weighed it empty"},
        {"code": "buyer.refund_count", "points": 20, "text": "12 refunds in 90 days"},
    ]
    ids = []
    for _ in range(2):
        async with stack.services.sessions() as session:
            row = await record_risk_gate_evidence(
                session, refund_id, shop.merchant_id, f"reject:{refund_id}", reasons
            )
            await session.commit()
            ids.append(row.id)
    assert ids[0] == ids[1]
    listing = await stack.http.get(
        f"/v1/support/refunds/{refund_id}/evidence", headers=stack.support()
    )
    (evidence,) = listing.json()
    assert evidence["source"] == "risk_gate" and evidence["category"] == "risk_reasons"
    assert evidence["details"] == {"reasons": reasons}
    assert evidence["files"] == []
    kinds = [kind for kind, _ in await audit_kinds(stack, refund_id)]
    assert kinds.count("evidence.submitted") == 1
    async with stack.services.sessions() as session:
        with pytest.raises(InvalidFieldError):
            await record_risk_gate_evidence(
                session, refund_id, shop.merchant_id, "x", reasons, category="nonsense"
            )


# ---------------------------------------------------------------------------- support tools
async def test_support_cli_lists_the_evidence(
    stack: LiveStack, shop: Shop, opened: list[str]
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    response = await submit(
        stack, shop, refund_id, category="not_returned", files=[("[bold]x.png", PNG, "")]
    )
    assert response.status_code == 201, response.text
    run = await refundwatch(stack, "refund", "evidence", refund_id, "--json")
    assert run.code == 0, run.err
    (listed,) = run.json()
    assert listed["files"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    table = await refundwatch(stack, "refund", "evidence", refund_id)
    assert table.code == 0, table.err
    assert "not_returned" in table.out and "[bold]x.png" in table.out
    missing = await refundwatch(stack, "refund", "evidence", "R-nope")
    assert missing.code == 1 and "refund R-nope not found" in missing.err
    cli_reads = [
        detail for kind, detail in await audit_kinds(stack, refund_id) if kind == "support.viewed"
    ]
    assert [d["view"] for d in cli_reads] == ["evidence", "evidence"]


async def test_support_page_shows_the_evidence_with_download_links(
    stack: LiveStack, shop: Shop, opened: list[str]
) -> None:
    refund_id = await disputed_refund(stack, shop, opened)
    response = await submit(
        stack,
        shop,
        refund_id,
        category="swapped_item",
        note="Buyer returned an older model (serial differs).",
        files=[("returned item.jpg", JPEG, "image/jpeg"), ("invoice.pdf", PDF, "")],
    )
    assert response.status_code == 201, response.text
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make install` installs it (apt-get)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(
            base_url=str(stack.http.base_url),
            viewport={"width": 1366, "height": 1000},
            accept_downloads=True,
        )
        page = await context.new_page()
        await page.goto(f"/support/refunds/{refund_id}")
        await page.get_by_label("Support token").fill(stack.support_token)
        await page.get_by_role("button", name="Sign in").click()
        section = page.locator("#evidence")
        await expect(section).to_contain_text("swapped item")
        await expect(section).to_contain_text("Buyer returned an older model")
        await expect(section.get_by_role("link", name="invoice.pdf")).to_be_visible()
        await section.scroll_into_view_if_needed()
        await page.screenshot(path=SHOTS / "refundwatch-support-evidence.png", full_page=True)
        async with page.expect_download() as waiting:
            await section.get_by_role("link", name="returned item.jpg").click()
        download = await waiting.value
        saved = await download.path()
        assert download.suggested_filename == "returned item.jpg"
        assert await asyncio.to_thread(Path(saved).read_bytes) == JPEG
        await context.close()
        await browser.close()
    views = [d["view"] for k, d in await audit_kinds(stack, refund_id) if k == "support.viewed"]
    assert "evidence.file" in views


# ---------------------------------------------------------------------------- the store
async def read_all(store: LocalDirStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in await store.open(key)])


async def test_store_round_trip_and_delete(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path, chunk_size=7)
    key = new_storage_key()
    await store.put(key, PDF)
    assert await read_all(store, key) == PDF
    await store.delete(key)
    await store.delete(key)  # gone already: fine
    with pytest.raises(StoredObjectMissingError):
        await store.open(key)
    assert len({new_storage_key() for _ in range(1000)}) == 1000


async def test_store_writes_atomically(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    key = new_storage_key()
    await store.put(key, b"old content")
    await store.put(key, b"new")
    assert await read_all(store, key) == b"new"
    # A write that cannot land (the target is a directory) leaves no partial or temp file.
    blocked = new_storage_key()
    store.path_for(blocked).mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        await store.put(blocked, PNG)
    assert [path.name for path in files_in(tmp_path)] == [key.split("/")[1]]


@pytest.mark.parametrize(
    "key",
    [
        "",
        ".",
        "..",
        "../outside",
        "ab/../../outside",
        "/etc/passwd",
        "ab\\cd",
        "ab//cd",
        "ab/",
        "photo.png",
        "ab/c\x00d",
        "a" * 301,
    ],
)
def test_store_refuses_keys_that_are_not_ours(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidStorageKeyError):
        LocalDirStore(tmp_path).path_for(key)


async def test_store_does_not_follow_a_link_out_of_its_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "store", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "ln")
    store = LocalDirStore(root)
    with pytest.raises(InvalidStorageKeyError):
        await store.put("ln/abc", PNG)
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------------------- the checks
def test_types_come_from_the_bytes() -> None:
    assert [detect_type(data) for data in (JPEG, PNG, WEBP, PDF, GIF, b"", b"RIFF")] == [
        "image/jpeg",
        "image/png",
        "image/webp",
        "application/pdf",
        None,
        None,
        None,
    ]
    # What clients call the same types, or no claim at all, is fine.
    for claim in ("image/jpg", "image/pjpeg", "IMAGE/JPEG; q=1", "application/octet-stream", ""):
        assert check_file("x.jpg", claim, JPEG, LIMITS, 1).content_type == "image/jpeg"
    with pytest.raises(UnsupportedFileTypeError, match=r"file 1 \('x.pdf'\) is sent as"):
        check_file("x.pdf", "application/pdf", JPEG, LIMITS, 1)
    with pytest.raises(UnsupportedFileTypeError, match="not an accepted type"):
        check_file("x.gif", "image/gif", GIF, LIMITS, 1)


def test_size_limits_are_exact() -> None:
    exact = PNG[:8] + b"\x00" * (LIMITS.max_file_bytes - 8)
    checked = check_file("a.png", None, exact, LIMITS, 1)
    assert checked.size_bytes == LIMITS.max_file_bytes
    assert checked.sha256 == hashlib.sha256(exact).hexdigest()
    with pytest.raises(FileTooLargeError, match="larger than the limit of 1 KiB per file"):
        check_file("a.png", None, exact + b"\x00", LIMITS, 1)
    with pytest.raises(InvalidFieldError, match="is empty"):
        check_file("a.png", None, b"", LIMITS, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\li\\Desktop\\box.png", "box.png"),
        (".htaccess", "htaccess"),
        ("..", "file-3"),
        ("", "file-3"),
        (None, "file-3"),
        ("a\x00b\r\nc.pdf", "abc.pdf"),
        ('in"voice;<1>.pdf', "in_voice__1_.pdf"),
        ("  spaced   out  .png  ", "spaced out .png"),
        ("快递单.pdf", "快递单.pdf"),
    ],
)
def test_filenames_are_sanitised(raw: str | None, expected: str) -> None:
    assert sanitise_filename(raw, 3) == expected


def test_long_filenames_keep_their_extension() -> None:
    name = sanitise_filename("x" * 500 + ".jpeg", 1)
    assert len(name) == 200 and name.endswith("x.jpeg")
    assert len(sanitise_filename("y" * 500, 1)) == 200


def test_fields() -> None:
    assert check_category("logistics_mismatch") == "logistics_mismatch"
    with pytest.raises(InvalidFieldError, match="must be one of empty_package"):
        check_category("fine")
    assert check_note("  " + "n" * 2000 + "\n") == "n" * 2000
    with pytest.raises(InvalidFieldError, match="at most 2000"):
        check_note("n" * 2001)
    with pytest.raises(InvalidFieldError, match="NUL"):
        check_note("a\x00b")
    assert check_request_id("req-1:a.b_c") == "req-1:a.b_c"
    for bad in ("", "-leading", "has space", "x" * 65):
        with pytest.raises(InvalidFieldError):
            check_request_id(bad)
