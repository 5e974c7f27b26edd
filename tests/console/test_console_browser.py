"""The console in a real browser (Debian's Chromium, driven by Playwright) against a real
`lienthong serve`: an operator logs in, reads the overview, repairs a failed delivery, discards in
bulk and finds it in the admin log; an auditor only reads, and searches the exchange log. Every page
is checked with axe-core and photographed (test-artifacts/console/, not committed)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN, AUDITOR, PASSWORDS, add_people
from support.delivery import document, rows, set_endpoint
from support.deployment import Deployment
from support.hub import IN_CI, RECIPIENT, REPO
from support.receiver import Receiver, until
from support.signing import identity_valid

from app.kit.db import Database

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

CHROMIUM = Path(os.environ.get("LIENTHONG_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = REPO / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts" / "console"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NEW = "000.00.98.H62"  # not in the demo directory
OUTSIDE = "000.00.00.G22"  # through the national axis, which this hub does not have: fails at once

playwright_api = pytest.importorskip("playwright.async_api")


def _require(path: Path, what: str) -> None:
    if not path.exists():
        message = f"{what} is missing at {path} (make tools)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def qlvb() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    _require(CHROMIUM, "Chromium")
    _require(AXE, "axe-core")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        await browser.close()


async def check_page(page: object, name: str) -> None:
    """Photograph the page and check it with axe-core: no serious or critical violation."""
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
    await page.evaluate(AXE.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    violations = await page.evaluate(  # type: ignore[attr-defined]
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .filter(v => v.impact === "serious" || v.impact === "critical")
             .map(v => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map(n => n.target).join(", ")}`)"""
    )
    assert violations == [], f"{name}: {violations}"


async def log_in(page: object, base: str, name: str) -> None:
    await page.goto(f"{base}/admin")  # type: ignore[attr-defined]
    await page.get_by_label("Tên đăng nhập").fill(name)  # type: ignore[attr-defined]
    await page.get_by_label("Mật khẩu").fill(PASSWORDS[name])  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Đăng nhập").click()  # type: ignore[attr-defined]
    await page.wait_for_url(f"{base}/admin")  # type: ignore[attr-defined]


async def state_of(database: Database, delivery_id: str) -> str:
    [row] = await rows(database, "SELECT state FROM deliveries WHERE id = :d", d=delivery_id)
    return str(row.state)


async def submit(base: str, token: str, *recipients: str) -> list[str]:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{base}/api/v1/documents",
            content=document(*recipients),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        )
    assert answer.status_code == 201, answer.text
    return [d["id"] for d in answer.json()["deliveries"]]


async def test_an_operator_repairs_deliveries_and_an_auditor_only_reads(
    deployment: Deployment, database: Database, sender_token: str, qlvb: Receiver, browser: object
) -> None:
    await add_people(database)
    qlvb.script("/broken", [400] * 50)
    await set_endpoint(database, RECIPIENT, qlvb.url("/broken"))
    with deployment.gateway() as gateway:
        base = gateway.url
        [refused] = await submit(base, sender_token, RECIPIENT)
        await until(lambda: _is(database, refused, "failed"), timeout=60)

        context = await browser.new_context(locale="vi-VN")  # type: ignore[attr-defined]
        page = await context.new_page()

        # Log in: the console speaks Vietnamese.
        await page.goto(f"{base}/admin/login")
        assert await page.get_by_role("heading", level=1).inner_text() == "Đăng nhập trang quản trị"
        await check_page(page, "01-dang-nhap")
        await log_in(page, base, ADMIN)

        # Tổng quan: the counts are the database's.
        assert await page.get_by_role("heading", level=1).inner_text() == "Tổng quan"
        [total] = await rows(database, "SELECT count(*) AS n FROM deliveries")
        [failed] = await rows(database, "SELECT count(*) AS n FROM deliveries WHERE state = 'failed'")
        assert await page.locator("[data-figure=created]").inner_text() == str(total.n)
        assert await page.locator("tfoot [data-state=failed]").inner_text() == str(failed.n)
        assert await page.locator("[data-figure=failures]").inner_text() == str(failed.n)
        await check_page(page, "02-tong-quan")

        # The admin fixes the endpoint on the agency's page (Cơ quan), through its edit dialog.
        await page.goto(f"{base}/admin/agencies/{RECIPIENT}")
        await page.get_by_role("button", name="Sửa").click()
        edit = page.locator("dialog#agency-edit")
        await edit.get_by_label("Địa chỉ nhận (QLVB)").fill(qlvb.url("/fixed"))
        await edit.get_by_role("button", name="Lưu").click()
        await page.wait_for_url(f"{base}/admin/agencies/{RECIPIENT}")
        assert f"Đã lưu {RECIPIENT}." in await page.get_by_role("status").inner_text()
        [agency] = await rows(database, "SELECT endpoint FROM agencies WHERE code = :c", c=RECIPIENT)
        assert agency.endpoint == qlvb.url("/fixed")

        # Hàng đợi gửi nhận: find the failed delivery, requeue it, see it delivered.
        await page.get_by_role("link", name="Hàng đợi gửi nhận").click()
        await page.get_by_label("Trạng thái").select_option("failed")
        await page.get_by_role("button", name="Lọc").click()
        await page.wait_for_url(re.compile(r"state=failed"))
        await check_page(page, "03-hang-doi")
        await page.locator(f"tr[data-delivery='{refused}'] a").first.click()
        await page.wait_for_url(f"{base}/admin/deliveries/{refused}")
        assert "HTTP 400" in await page.locator("main").inner_text()
        await check_page(page, "04-luot-gui")
        await page.get_by_role("button", name="Xếp lại hàng đợi").click()
        dialog = page.locator("dialog#do-requeue")
        await dialog.get_by_label("Lý do").fill("đã sửa địa chỉ nhận")
        await check_page(page, "05-xac-nhan")
        await dialog.get_by_role("button", name="Xếp lại hàng đợi").click()
        await page.wait_for_url(f"{base}/admin/deliveries/{refused}")
        assert "Đã xếp lại hàng đợi 1 lượt gửi." in await page.get_by_role("status").inner_text()
        await until(lambda: _is(database, refused, "delivered"), timeout=60)
        assert len(qlvb.at("/fixed")) == 1
        await page.reload()
        assert await page.locator("h1 .badge").inner_text() == "đã chuyển"

        # A bulk discard with a reason, found in the admin log.
        outside = await submit(base, sender_token, OUTSIDE) + await submit(base, sender_token, OUTSIDE)
        for delivery_id in outside:
            await until(lambda d=delivery_id: _is(database, d, "failed"), timeout=60)
        await page.goto(f"{base}/admin/deliveries?recipient={OUTSIDE}&state=failed")
        await page.get_by_label("Chọn tất cả trên trang này").check()
        await page.locator(".bulk-bar").get_by_role("button", name="Hủy").click()
        dialog = page.locator("dialog#bulk-discard")
        await dialog.get_by_label("Lý do (bắt buộc)").fill("gửi nhầm nơi nhận")
        await dialog.get_by_role("button", name="Hủy").click()
        await page.wait_for_url(re.compile(r"/admin/deliveries"))
        assert "Đã hủy 2 lượt gửi." in await page.get_by_role("status").inner_text()
        assert {await state_of(database, d) for d in outside} == {"discarded"}
        await page.get_by_role("link", name="Nhật ký quản trị").click()
        await page.get_by_label("Thao tác", exact=True).fill("delivery.discard")
        await page.get_by_role("button", name="Lọc").click()
        entry = page.locator("tr[data-action='delivery.discard']")
        assert await entry.count() == 1
        assert "gửi nhầm nơi nhận" in await entry.inner_text() and f"user:{ADMIN}" in await entry.inner_text()
        await check_page(page, "06-nhat-ky")
        await page.get_by_role("link", name=re.compile(ADMIN)).click()
        await check_page(page, "07-tai-khoan")

        # A form without its CSRF token is refused, even from the logged-in admin.
        forged = await page.request.post(
            f"{base}/admin/deliveries/{refused}/discard", form={"reason": "no token"}, max_redirects=0
        )
        assert forged.status == 403

        # English on request.
        await page.get_by_role("link", name="English").click()
        await page.goto(f"{base}/admin")
        assert await page.get_by_role("heading", level=1).inner_text() == "Overview"
        await check_page(page, "08-overview-en")
        await context.close()

        # The auditor reads everything and changes nothing.
        context = await browser.new_context(locale="vi-VN")  # type: ignore[attr-defined]
        page = await context.new_page()
        await log_in(page, base, AUDITOR)
        await page.goto(f"{base}/admin/deliveries")
        assert await page.locator("[data-dialog]").count() == 0
        assert await page.locator("input[name=ids]").count() == 0
        await check_page(page, "09-hang-doi-kiem-tra-vien")
        [still_failed] = await submit(base, sender_token, OUTSIDE)
        await until(lambda: _is(database, still_failed, "failed"), timeout=60)
        await page.goto(f"{base}/admin/deliveries/{still_failed}")
        assert await page.locator("[data-dialog]").count() == 0
        token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        forged = await page.request.post(
            f"{base}/admin/deliveries/{still_failed}/requeue",
            form={"reason": "forged", "csrf_token": token or ""},
            max_redirects=0,
        )
        assert forged.status == 403
        assert await state_of(database, still_failed) == "failed"

        # Nhật ký trao đổi: the auditor searches the log, opens an entry and a document's trail.
        [row] = await rows(database, "SELECT document_id FROM deliveries WHERE id = :d", d=still_failed)
        await page.get_by_role("link", name="Nhật ký trao đổi").click()
        await page.wait_for_url(f"{base}/admin/audit")
        assert await page.get_by_role("heading", level=1).inner_text() == "Nhật ký trao đổi"
        await page.get_by_label("Văn bản", exact=True).fill(row.document_id)
        await page.get_by_role("button", name="Lọc").click()
        await page.wait_for_url(re.compile(r"document_id="))
        assert await page.locator("tr[data-entry]").count() >= 3
        await check_page(page, "10-nhat-ky-trao-doi")
        await page.locator("tr[data-entry] a").first.click()
        await page.wait_for_url(re.compile(r"/admin/audit/entries/exchange_log/"))
        await check_page(page, "11-muc-nhat-ky")
        await page.goto(f"{base}/admin/audit/documents/{row.document_id}")
        assert await page.get_by_role("link", name="Tải gói bằng chứng").count() == 1
        await check_page(page, "12-dau-vet-van-ban")
        await context.close()


async def _is(database: Database, delivery_id: str, wanted: str) -> bool:
    return await state_of(database, delivery_id) == wanted


async def test_the_operations_pages_in_a_browser(
    deployment: Deployment, database: Database, qlvb: Receiver, browser: object
) -> None:
    """Kết nối, Cơ quan, Định tuyến, Khóa ký: each page and its dialogs pass axe-core; an admin
    pauses a connector, checks a route, switches maintenance mode on and sees the banner; an auditor
    sees the pages without a single action."""
    await add_people(database)
    await set_endpoint(database, RECIPIENT, qlvb.url("/probe"))
    with deployment.gateway() as gateway:
        base = gateway.url
        context = await browser.new_context(locale="vi-VN")  # type: ignore[attr-defined]
        page = await context.new_page()
        await log_in(page, base, ADMIN)

        # Kết nối: pause qlvb-push through its dialog, then resume it.
        await page.get_by_role("link", name="Kết nối").click()
        await page.wait_for_url(f"{base}/admin/connectors")
        assert await page.get_by_role("heading", level=1).inner_text() == "Kết nối"
        await check_page(page, "10-ket-noi")
        await page.locator("tr[data-connector='qlvb-push']").get_by_role("button", name="Tạm dừng").click()
        dialog = page.locator("dialog#pause-qlvb-push")
        await dialog.get_by_label("Lý do").fill("bảo trì máy nhận")
        await check_page(page, "11-ket-noi-tam-dung")
        await dialog.get_by_role("button", name="Tạm dừng").click()
        await page.wait_for_url(f"{base}/admin/connectors")
        assert "Đã tạm dừng qlvb-push." in await page.get_by_role("status").first.inner_text()
        [paused] = await rows(database, "SELECT paused_by, reason FROM connector_pauses")
        assert (paused.paused_by, paused.reason) == (f"user:{ADMIN}", "bảo trì máy nhận")
        await page.locator("tr[data-connector='qlvb-push']").get_by_role("button", name="Tiếp tục").click()
        await page.locator("dialog#resume-qlvb-push").get_by_role("button", name="Tiếp tục").click()
        await page.wait_for_url(f"{base}/admin/connectors")
        assert await rows(database, "SELECT scope FROM connector_pauses") == []

        # Maintenance mode: the banner on every page until it is switched off.
        await page.get_by_role("button", name="Bật chế độ bảo trì").click()
        dialog = page.locator("dialog#maintenance-on")
        await dialog.get_by_label("Thông báo cho bên gửi").fill("nâng cấp đến 22 giờ")
        await dialog.get_by_role("button", name="Bật").click()
        await page.wait_for_url(f"{base}/admin/connectors")
        banner = page.locator("[data-maintenance]")
        assert "nâng cấp đến 22 giờ" in await banner.inner_text()
        await check_page(page, "12-bao-tri")

        # Cơ quan: search, one agency, its edit dialog.
        await page.get_by_role("link", name="Cơ quan").click()
        await page.get_by_label("Mã hoặc tên").fill(RECIPIENT)
        await page.get_by_role("button", name="Lọc").click()
        await page.wait_for_url(re.compile(r"q="))
        assert await page.locator("tr[data-agency]").count() == 1
        assert "data-maintenance" in await page.content()
        await check_page(page, "13-co-quan")
        await page.get_by_role("link", name=RECIPIENT).click()
        await page.wait_for_url(f"{base}/admin/agencies/{RECIPIENT}")
        await page.get_by_role("button", name="Sửa").click()
        await check_page(page, "14-co-quan-sua")
        await page.locator("dialog#agency-edit").get_by_label("Thời gian chờ địa chỉ nhận (giây)").fill("20")
        await page.locator("dialog#agency-edit").get_by_role("button", name="Lưu").click()
        await page.wait_for_url(f"{base}/admin/agencies/{RECIPIENT}")
        [agency] = await rows(
            database, "SELECT endpoint_timeout_seconds AS timeout FROM agencies WHERE code = :c", c=RECIPIENT
        )
        assert agency.timeout == 20

        # Chứng thư số: register one from a .crt file, see it listed, revoke it after a confirmation.
        certificate = identity_valid(-1, 365)
        await page.get_by_role("button", name="Thêm chứng thư số").click()
        dialog = page.locator("dialog#certificate-add")
        await dialog.get_by_label("hoặc một tệp chứng thư số (.pem, .crt)").set_input_files(
            files=[
                {
                    "name": "so-noi-vu.crt",
                    "mimeType": "application/x-x509-ca-cert",
                    "buffer": certificate.certificate_pem().encode(),
                }
            ]
        )
        await check_page(page, "14b-chung-thu-them")
        await dialog.get_by_role("button", name="Thêm").click()
        await page.wait_for_url(f"{base}/admin/agencies/{RECIPIENT}")
        assert "Đã đăng ký chứng thư số" in await page.locator(".flash").inner_text()
        [registered] = await rows(
            database,
            "SELECT id FROM agency_certificates WHERE fingerprint_sha256 = :f",
            f=certificate.fingerprint,
        )
        row = page.locator(f"tr[data-certificate='{registered.id}']")
        assert certificate.fingerprint in await row.inner_text()
        await row.get_by_role("button", name="Vô hiệu hóa").click()
        await check_page(page, "14c-chung-thu-vo-hieu-hoa")
        await (
            page.locator(f"dialog#certificate-revoke-{registered.id}")
            .get_by_role("button", name="Vô hiệu hóa")
            .click()
        )
        await page.wait_for_url(f"{base}/admin/agencies/{RECIPIENT}")
        assert "đã vô hiệu hóa" in await row.inner_text()

        # Import a directory file: the preview says what changes; nothing is written before "Xác nhận".
        await page.goto(f"{base}/admin/agencies")
        await page.get_by_role("button", name="Nhập tệp danh mục").click()
        dialog = page.locator("dialog#agency-import")
        await dialog.get_by_label("Tệp danh mục").set_input_files(
            files=[
                {
                    "name": "danh-muc.csv",
                    "mimeType": "text/csv",
                    "buffer": f"code,name\n{NEW},Sở Mới\n".encode(),
                }
            ]
        )
        await dialog.get_by_role("button", name="Xem trước").click()
        await page.wait_for_url(f"{base}/admin/agencies/import")
        assert await page.locator(f"tr[data-added='{NEW}']").count() == 1
        assert await rows(database, "SELECT code FROM agencies WHERE code = :c", c=NEW) == []
        await check_page(page, "15-co-quan-nhap")
        await page.get_by_role("button", name="Xác nhận nhập").click()
        await page.wait_for_url(f"{base}/admin/agencies")
        [added] = await rows(database, "SELECT name FROM agencies WHERE code = :c", c=NEW)
        assert added.name == "Sở Mới"

        # Định tuyến: which connector a code takes.
        await page.get_by_role("link", name="Định tuyến").click()
        await page.get_by_label("Mã định danh").fill(RECIPIENT)
        await page.get_by_role("button", name="Kiểm tra").click()
        await page.wait_for_url(re.compile(r"code="))
        assert "qlvb-push" in await page.locator("[data-resolution]").inner_text()
        await check_page(page, "15-dinh-tuyen")
        await page.get_by_role("button", name="Thêm quy tắc").click()
        await check_page(page, "16-dinh-tuyen-them")
        await page.locator("dialog#route-add").get_by_role("button", name="Thôi").click()

        # Khóa ký số: the active key and the rotate dialog.
        await page.get_by_role("link", name="Khóa ký số").click()
        await page.wait_for_url(f"{base}/admin/keys")
        [key] = await rows(database, "SELECT fingerprint_sha256 AS f FROM signing_keys WHERE active")
        assert key.f in await page.locator("[data-active-key]").inner_text()
        await check_page(page, "17-khoa-ky")
        await page.get_by_role("button", name="Thay khóa").click()
        await check_page(page, "18-khoa-ky-thay")
        await page.locator("dialog#key-rotate").get_by_role("button", name="Thôi").click()

        # Mã truy cập: issue an agency's credential through its dialog; the token is shown once.
        await page.get_by_role("link", name="Mã truy cập").click()
        await page.wait_for_url(f"{base}/admin/credentials")
        assert await page.get_by_role("heading", level=1).inner_text() == "Mã truy cập"
        await check_page(page, "17a-ma-truy-cap")
        await page.get_by_role("button", name="Cấp mã truy cập").click()
        dialog = page.locator("dialog#credential-issue")
        await dialog.get_by_label("Mã định danh").fill(RECIPIENT)
        await dialog.get_by_label("Người giữ").fill("QLVB thử")
        await check_page(page, "17b-ma-truy-cap-cap")
        await dialog.get_by_role("button", name="Cấp").click()
        await page.wait_for_selector("[data-once-warning]")
        token = await page.locator("[data-secret]").input_value()
        assert len(token) > 20
        await check_page(page, "17c-ma-truy-cap-mot-lan")
        [issued] = await rows(database, "SELECT agency_code FROM credentials WHERE holder = 'QLVB thử'")
        assert issued.agency_code == RECIPIENT
        # Báo cáo chỉ số: the table, the trend chart, the paper-count form; an agency's documents.
        await page.get_by_role("link", name="Báo cáo chỉ số").click()
        await page.wait_for_url(f"{base}/admin/reports")
        assert await page.locator("svg[data-trend]").count() == 1
        assert await page.locator("form[data-paper-form]").count() == 1
        await check_page(page, "20-bao-cao-chi-so")
        await page.goto(f"{base}/admin/reports/documents?agency={RECIPIENT}")
        await check_page(page, "21-bao-cao-van-ban")

        # Tổng quan with the recent alerts; then maintenance off again.
        await page.goto(f"{base}/admin")
        assert await page.get_by_role("heading", name="Cảnh báo gần đây").count() == 1
        await page.goto(f"{base}/admin/connectors")
        await page.get_by_role("button", name="Tắt chế độ bảo trì").click()
        await page.locator("dialog#maintenance-off").get_by_role("button", name="Tắt").click()
        await page.wait_for_url(f"{base}/admin/connectors")
        assert await page.locator("[data-maintenance]").count() == 0
        await context.close()

        # The auditor: the same pages, no action.
        context = await browser.new_context(locale="vi-VN")  # type: ignore[attr-defined]
        page = await context.new_page()
        await log_in(page, base, AUDITOR)
        for path in (
            "/admin/connectors",
            "/admin/agencies",
            f"/admin/agencies/{RECIPIENT}",
            "/admin/routes",
            "/admin/credentials",
            "/admin/keys",
            "/admin/reports",
        ):
            await page.goto(f"{base}{path}")
            assert await page.locator("[data-dialog]").count() == 0, path
            assert await page.locator("main form[method=post]").count() == 0, path
        await check_page(page, "19-khoa-ky-kiem-tra-vien")
        await context.close()
