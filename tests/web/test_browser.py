"""The dashboard in a real browser: Debian's Chromium through chromium-driver, against the real app
served by uvicorn on 127.0.0.1 over a real database file.

Screenshots are the artefacts to look at: each test saves its steps, and every test its last page
(`<test>-end.png`, whether it passed or failed), into `$CALLPLANE_SCREENSHOTS` when set, else the
pytest tmp dir (`screenshots0/`). No page may ask for anything beyond the server on 127.0.0.1 (no
CDN, no font or script from elsewhere): every request the pages make is read back from the
browser's performance log, and the `browser` fixture fails the test on any that went elsewhere
(`test_a_request_leaving_the_server_is_caught` shows it catching one). The browser's own
background traffic (updates, sync) is not a page's, and is switched off.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import update

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain.call import Call, CallStatus, TranscriptEntry
from callplane.domain.ids import new_id
from callplane.engine.blobs import MemoryBlobs
from callplane.engine.clock import SystemClock
from callplane.engine.jobs.relay import Relay, RelayConfig
from callplane.engine.services.admin import Admin
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from callplane.store.schema import calls
from tests.factories import Tenant, make_tenant
from tests.fakes.server import serve_in_thread
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.web.conftest import a_call, insert, queued_call, recording_wav

CHROMIUM = shutil.which("chromium")
OPERATOR_TOKEN = "op_browser_" + "k" * 32
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
    ),
]


@dataclass
class Site:
    url: str
    db: Database
    tenant: Tenant
    other: Tenant
    refund_calls: list[Call]
    queued: Call
    theirs: Call
    recorded: Call
    shots: Path


def _two_lines(answered_at: int, said: str) -> list[TranscriptEntry]:
    """Two lines as the conversation records them (Unix ms): 0:00-0:02.5, then 0:03-0:06."""
    return [
        {
            "role": "agent",
            "content": "안녕하세요, 콜플레인 고객센터입니다.",
            "start_at": answered_at,
            "end_at": answered_at + 2500,
        },
        {"role": "user", "content": said, "start_at": answered_at + 3000, "end_at": answered_at + 6000},
    ]


def _screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CALLPLANE_SCREENSHOTS")
    if not chosen:
        return tmp_path_factory.mktemp("screenshots")
    folder = Path(chosen)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser")
    db = Database(f"sqlite:///{folder / 'callplane.db'}")
    upgrade(db)
    now = SystemClock().now_ms()
    tenant = make_tenant(db, now)
    other = make_tenant(db, now, name="other org")
    # 70 calls over the last hours: two pages of 50; every fifth one talks about a refund.
    refund = "환불은 영업일 기준 삼 일 안에 처리됩니다."
    calls = []
    for i in range(70):
        said = refund if i % 5 == 0 else "예약 확인 감사합니다."
        calls.append(
            a_call(
                tenant,
                at=now - 60_000 * (i + 2),
                transcript=_two_lines(now - 60_000 * (i + 2) + 2000, said),
            )
        )
    queued = queued_call(tenant, at=now - 1000)
    theirs = queued_call(other, at=now - 1000)
    # A recorded call an hour ago: ten seconds, the agent speaking 0-2.5 s, the callee 3-6 s.
    recorded = a_call(
        tenant,
        at=now - 3600_000,
        recording_key=f"{tenant.organization_id}/recorded.wav",
        transcript=_two_lines(now - 3600_000 + 2000, "네, 말씀하세요."),
    )
    blobs = MemoryBlobs()
    blobs.put(
        f"{tenant.organization_id}/recorded.wav",
        recording_wav(10_000, agent=[(0, 2500)], callee=[(3000, 6000)]),
        "audio/wav",
    )
    insert(db, *calls, queued, theirs, recorded)
    port = _free_port()
    settings = Settings(database_url=db.url, embedded_worker=False, operator_token=OPERATOR_TOKEN)
    app = create_app(settings, db=db, blobs=blobs)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Site(
            f"http://127.0.0.1:{port}",
            db,
            tenant,
            other,
            [c for i, c in enumerate(calls) if i % 5 == 0],
            queued,
            theirs,
            recorded,
            _screenshots(tmp_path_factory),
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


#: Every URL each browser session asked for (by session id), as read from its performance log:
#: reading the log empties it, so every read goes through `_log`, which notes them here.
_ASKED: dict[str, list[str]] = {}


def _log(driver: WebDriver) -> list[dict[str, Any]]:
    # Chromium's logs, not a W3C command: the remote WebDriver's type does not declare it.
    entries: list[dict[str, Any]] = driver.get_log("performance")  # type: ignore[attr-defined]
    _ASKED.setdefault(driver.session_id or "", []).extend(_requested_urls(driver, entries))
    return entries


def _offsite(driver: WebDriver, site: Site) -> list[str]:
    _log(driver)
    asked = _ASKED.get(driver.session_id or "", [])
    return [u for u in asked if not u.startswith((site.url + "/", "data:", "about:"))]


@pytest.fixture
def browser(site: Site, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    """Chromium on the site; after the test, its last page is saved and the test fails if any
    page asked for anything but the server on 127.0.0.1."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        "--lang=ko-KR",
        # The browser's own background traffic (updates, sync) is not the page's; keep it off.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "ko-KR,ko"})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER or ""))
    driver.implicitly_wait(0)
    try:
        yield driver
        offsite = _offsite(driver, site)
    finally:
        try:
            driver.save_screenshot(str(site.shots / f"{request.node.name}-end.png"))
        finally:
            _ASKED.pop(driver.session_id or "", None)
            driver.quit()
    assert offsite == [], f"pages asked for something beyond 127.0.0.1: {offsite}"


def _wait(driver: WebDriver, condition: object, timeout: float = 15) -> object:
    return WebDriverWait(driver, timeout).until(condition)  # type: ignore[arg-type]


def _rows(driver: WebDriver) -> list[str]:
    # Read in one script: an htmx swap between two WebDriver calls would leave stale elements.
    ids = driver.execute_script(
        "return [...document.querySelectorAll('tr.call-row')].map(r => r.dataset.callId)"
    )
    return [str(i) for i in ids]


def _requested_urls(driver: WebDriver, log: list[dict[str, Any]] | None = None) -> list[str]:
    """Every URL the browser asked for (`log`: the performance log already read; reading it
    empties it)."""
    urls = []
    for entry in _log(driver) if log is None else log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _statuses(log: list[dict[str, Any]], path: str) -> set[int]:
    """The HTTP statuses of the responses to URLs containing `path`."""
    found = set()
    for entry in log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.responseReceived":
            response = message["params"]["response"]
            if path in response["url"]:
                found.add(int(response["status"]))
    return found


def _sign_in(driver: WebDriver, site: Site, key: str) -> None:
    driver.get(f"{site.url}/dashboard/sign-in")
    driver.find_element(By.ID, "api_key").send_keys(key)
    driver.find_element(By.ID, "sign-in").click()
    _wait(driver, ec.url_contains("/dashboard/calls"))


def test_sign_in_search_page_read_and_cancel(browser: WebDriver, site: Site) -> None:
    browser.get(f"{site.url}/dashboard/sign-in")
    browser.find_element(By.ID, "api_key").send_keys("cp_not_a_real_key_at_all")
    browser.find_element(By.ID, "sign-in").click()
    _wait(browser, ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".problem"), "키가 올바르지 않거나"))
    _sign_in(browser, site, site.tenant.api_key)
    assert len(_rows(browser)) == 50
    # The strip's success rate arrives after the page, into its own slot (the list stays).
    _wait(browser, ec.presence_of_element_located((By.ID, "kpi-success")))
    assert len(_rows(browser)) == 50
    browser.save_screenshot(str(site.shots / "01-calls.png"))

    # Page with htmx: the second page holds the rest, nothing twice.
    first = _rows(browser)
    browser.find_element(By.ID, "next-page").click()
    _wait(browser, lambda d: _rows(d) and _rows(d)[0] not in first)
    second = _rows(browser)
    assert len(second) == 22 and not set(first) & set(second)  # 70 + the queued + the recorded
    assert "cursor=" in browser.current_url  # pushed to the address bar

    # Search in Korean: exactly the refund calls, matches marked.
    browser.get(f"{site.url}/dashboard/calls")
    box = browser.find_element(By.ID, "q")
    box.send_keys("환불은 영업일")
    Select(browser.find_element(By.NAME, "preset")).select_by_value("all")
    browser.find_element(By.ID, "apply").click()
    _wait(browser, lambda d: len(_rows(d)) == len(site.refund_calls))
    assert set(_rows(browser)) == {c.id for c in site.refund_calls}
    marks = browser.find_elements(By.CSS_SELECTOR, "tr.snippet mark")
    assert marks and all(m.text == "환불은 영업일" for m in marks)
    assert "q=" in browser.current_url
    browser.save_screenshot(str(site.shots / "02-search.png"))

    # Filter by status: only the queued call.
    browser.get(f"{site.url}/dashboard/calls?preset=all&status=queued")
    assert _rows(browser) == [site.queued.id]

    # Open a call from the search and read its transcript.
    browser.get(f"{site.url}/dashboard/calls?q=%ED%99%98%EB%B6%88&preset=all")
    browser.find_element(By.CSS_SELECTOR, "a.call-link").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "transcript")))
    turns = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#transcript .turn p")]
    assert turns == ["안녕하세요, 콜플레인 고객센터입니다.", "환불은 영업일 기준 삼 일 안에 처리됩니다."]
    assert browser.find_element(By.CSS_SELECTOR, "#transcript mark").text == "환불"
    browser.save_screenshot(str(site.shots / "03-call.png"))

    # Cancel the queued call: a form POST with its CSRF token, through CallService.
    browser.get(f"{site.url}/dashboard/calls/{site.queued.id}")
    browser.find_element(By.ID, "cancel-call").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "call-status"), "취소"))
    assert "통화를 취소했습니다" in browser.find_element(By.CSS_SELECTOR, ".notice").text
    assert not browser.find_elements(By.ID, "cancel-call")
    browser.save_screenshot(str(site.shots / "04-canceled.png"))

    # English at the toggle.
    browser.find_element(By.CSS_SELECTOR, "button[name=lang][value=en]").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "call-status"), "canceled"))

    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(str(r).startswith(site.url + "/") for r in resources)


def test_csrf_and_other_organisations_in_the_browser(browser: WebDriver, site: Site) -> None:
    _sign_in(browser, site, site.tenant.api_key)
    browser.get(f"{site.url}/dashboard/calls/{site.theirs.id}")
    assert "찾을 수 없습니다" in browser.find_element(By.TAG_NAME, "h1").text
    # A form whose token was taken out is refused and changes nothing.
    call = a_call(site.tenant)
    queued = queued_call(site.tenant)
    insert(site.db, call, queued)
    browser.get(f"{site.url}/dashboard/calls/{queued.id}")
    browser.execute_script("document.querySelector('form[action$=\"/cancel\"] input[name=csrf]').remove()")
    browser.find_element(By.ID, "cancel-call").click()
    _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".problem")))
    assert "security token" in browser.find_element(By.CSS_SELECTOR, ".problem").text
    browser.get(f"{site.url}/dashboard/calls/{queued.id}")
    assert browser.find_element(By.ID, "call-status").text == "대기"
    # Signing out: the pages want a key again.
    browser.find_element(By.ID, "sign-out").click()
    _wait(browser, ec.url_contains("/dashboard/sign-in"))
    browser.get(f"{site.url}/dashboard/calls")
    assert "/dashboard/sign-in" in browser.current_url


def test_analytics_campaign_from_csv_and_admin(browser: WebDriver, site: Site) -> None:
    _sign_in(browser, site, site.tenant.api_key)
    # Analytics: the server-drawn charts are in the page and have bars.
    browser.get(f"{site.url}/dashboard/analytics?preset=24h")
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart-volume svg rect")
    assert bars and bars[0].size["height"] > 0
    assert browser.find_element(By.ID, "kpi-calls").text == "72"
    # The success rate arrives after the page (none of these calls has a verdict: no rate).
    _wait(browser, ec.presence_of_element_located((By.ID, "kpi-success")))
    assert browser.find_element(By.ID, "kpi-success").text == "—"
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-reasons svg rect")
    browser.save_screenshot(str(site.shots / "05-analytics.png"))

    # A campaign from a CSV: the check shows the rejected rows, nothing is created until "create".
    browser.get(f"{site.url}/dashboard/campaigns/new")
    browser.find_element(By.NAME, "name").send_keys("브라우저 캠페인")
    Select(browser.find_element(By.NAME, "agent")).select_by_value(site.tenant.agent_id)
    rows = "to_number,customer_name\n01012345678,홍길동\n012345,김철수\n01022223333,\n01044445555,이영희\n"
    browser.find_element(By.ID, "csv").send_keys(rows)
    browser.find_element(By.ID, "check").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "dry-run")))
    assert "2개 행 통과, 2개 거부." in browser.find_element(By.ID, "dry-run-summary").text
    lines = [r.text.split()[0] for r in browser.find_elements(By.CSS_SELECTOR, "#rejected tbody tr")]
    assert lines == ["3", "4"]
    browser.save_screenshot(str(site.shots / "06-campaign-check.png"))
    browser.find_element(By.ID, "create").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "progress")))
    assert browser.find_element(By.ID, "n-total").text == "2"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")) == 2
    browser.find_element(By.ID, "campaign-pause").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "campaign-status"), "일시 중지"))
    browser.save_screenshot(str(site.shots / "07-campaign.png"))

    # An admin page: the do-not-call list, a bulk import with a bad line.
    browser.get(f"{site.url}/dashboard/admin/suppressions")
    browser.find_element(By.NAME, "numbers").send_keys("01099990000\n010-1\n")
    browser.find_element(By.ID, "suppress").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "import-result")))
    assert "1개 번호를 추가했습니다." in browser.find_element(By.ID, "import-result").text
    assert "01099990000" in browser.find_element(By.ID, "suppressions").text
    browser.save_screenshot(str(site.shots / "08-suppressions.png"))
    browser.get(f"{site.url}/dashboard/admin")
    browser.save_screenshot(str(site.shots / "09-admin.png"))


def test_the_operator_view(browser: WebDriver, site: Site) -> None:
    # A call on the line at the other organisation (an old one: no other test's lists show it).
    live = a_call(
        site.other, status=CallStatus.ONGOING, end_at=None, duration_ms=None, disconnection_reason=None
    )
    insert(site.db, live)
    browser.get(f"{site.url}/dashboard/sign-in")
    browser.find_element(By.ID, "api_key").send_keys(OPERATOR_TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    _wait(browser, ec.url_contains("/dashboard/operator"))
    assert "운영자" in browser.find_element(By.TAG_NAME, "h1").text
    names = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#organizations tbody tr")]
    assert len(names) >= 2
    theirs = f"#organizations tr[data-org='{site.other.organization_id}'] .live-count"
    ours = f"#organizations tr[data-org='{site.tenant.organization_id}'] .live-count"
    assert browser.find_element(By.CSS_SELECTOR, theirs).text == "1 / 10"
    assert browser.find_element(By.CSS_SELECTOR, ours).text == "0 / 10"
    assert int(browser.find_element(By.ID, "total-live").text) >= 1
    browser.save_screenshot(str(site.shots / "11-operator.png"))
    # The figures are live: a second call comes on the line and the page shows it by itself.
    insert(site.db, replace(live, id=new_id()))
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, theirs).text == "2 / 10", timeout=20)
    # The operator's session opens no organisation's pages.
    browser.get(f"{site.url}/dashboard/calls")
    assert "/dashboard/sign-in" in browser.current_url


def _relay_once(site: Site) -> int:
    """One pass of the webhook relay, as the worker runs it, delivering to loopback; no retries:
    a failed attempt fails the delivery."""

    async def run() -> int:
        relay = Relay(site.db, SystemClock(), RelayConfig(allow_private=True, schedule_s=()))
        try:
            return await relay.deliver_due()
        finally:
            await relay.aclose()

    return asyncio.run(run())


def _log_rows(driver: WebDriver) -> list[list[str]]:
    """The delivery log: (delivery id, status, attempts, response) a row, newest first."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#delivery-log tr.delivery-row')].map(r =>"
        " [r.dataset.delivery, r.querySelector('.badge').textContent,"
        "  r.querySelector('td.num').textContent, r.querySelector('td.response').textContent.trim()])"
    )
    return [[str(cell) for cell in row] for row in rows]


def test_the_webhook_log_sends_a_test_event_and_redelivers_a_failed_one(
    browser: WebDriver, site: Site
) -> None:
    # An organisation of its own: the other tests' calls send it nothing.
    hooks = make_tenant(site.db, SystemClock().now_ms(), name="hooks org")
    receiver = WebhookReceiver(fail_first=1)  # the first try of an event is a 500, then 204s
    with serve_in_thread(receiver.app) as receiver_url:
        admin = WebhookAdmin(site.db, SystemClock().now_ms, allow_private=True)
        endpoint = admin.add(hooks.organization_id, f"{receiver_url}/hooks").endpoint
        _sign_in(browser, site, hooks.api_key)
        browser.get(f"{site.url}/dashboard/admin/webhooks")
        browser.find_element(By.ID, f"send-test-{endpoint.id}").click()
        _wait(browser, ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "테스트 이벤트"))
        [[sent, status, attempts, _]] = _log_rows(browser)
        assert (status, attempts) == ("pending", "0")

        assert _relay_once(site) == 1
        browser.refresh()
        assert _log_rows(browser) == [[sent, "failed", "1", "500 HTTP 500"]]
        browser.save_screenshot(str(site.shots / "12-webhook-failed.png"))

        browser.find_element(By.ID, f"redeliver-{sent}").click()
        _wait(browser, ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "다시 보내도록"))
        [again, first] = _log_rows(browser)
        assert first == [sent, "failed", "1", "500 HTTP 500"] and again[1:3] == ["pending", "0"]
        assert _relay_once(site) == 1
        browser.refresh()
        assert _log_rows(browser) == [[again[0], "delivered", "1", "204"], first]
        browser.save_screenshot(str(site.shots / "13-webhook-redelivered.png"))
    # The same event both times (one webhook-id), the second try accepted.
    assert [r.status for r in receiver.received] == [500, 204]
    assert len({r.webhook_id for r in receiver.received}) == 1


#: Three turns for the agent, two for the simulated callee at 01000000009 ("wants to cancel").
CANCEL_AGENT = {
    "name": "취소 확인",
    "type": "flow",
    "flow": {
        "start": "greet",
        "nodes": {
            "greet": {
                "type": "conversation",
                "say": "안녕하세요, 콜플레인 치과입니다. 내일 예약을 확인하려고 연락드렸습니다.",
                "edges": [{"to": "ask", "when": {"user_says_any": ["취소"]}}],
            },
            "ask": {
                "type": "conversation",
                "say": "정말 취소해 드릴까요?",
                "edges": [{"to": "bye", "when": {"user_says_any": ["네"]}}],
            },
            "bye": {"type": "end", "say": "취소해 드렸습니다. 감사합니다.", "reason": "agent_hangup"},
        },
    },
}


def test_a_rehearsal_appears_turn_by_turn(browser: WebDriver, site: Site) -> None:
    agent = Admin(site.db, SystemClock().now_ms).create_agent(site.tenant.organization_id, CANCEL_AGENT)
    _sign_in(browser, site, site.tenant.api_key)
    browser.get(f"{site.url}/dashboard/admin/agents/{agent.id}/rehearse")
    box = browser.find_element(By.NAME, "to")
    box.clear()
    box.send_keys("01000000009")
    browser.find_element(By.ID, "rehearse").click()
    _wait(browser, ec.url_contains("/rehearsals/"))
    # Note what the page shows each time htmx swaps the conversation in: (turns, finished).
    browser.execute_script(
        "window.seen = [];"
        "const note = () => { const r = document.getElementById('rehearsal');"
        "  if (r) { window.seen.push([r.querySelectorAll('.turn').length, r.dataset.finished]); } };"
        "note(); new MutationObserver(note).observe(document.querySelector('main'),"
        " {childList: true, subtree: true});"
    )
    _wait(browser, ec.presence_of_element_located((By.ID, "outcome")), timeout=30)
    seen = [(int(n), finished == "true") for n, finished in browser.execute_script("return window.seen")]
    # The conversation was on the page before the call was over, and grew.
    during = [n for n, finished in seen if not finished]
    assert any(0 < n < 5 for n in during), seen
    assert during == sorted(during)
    turns = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#rehearsal .turn p")]
    assert turns == [
        "안녕하세요, 콜플레인 치과입니다. 내일 예약을 확인하려고 연락드렸습니다.",
        "아, 그 예약은 취소해 주세요.",
        "정말 취소해 드릴까요?",
        "네, 감사합니다.",
        "취소해 드렸습니다. 감사합니다.",
    ]
    assert browser.find_element(By.ID, "outcome").text.startswith("종료")
    # Times count from the answer: the first line is at 0:00.
    assert browser.find_element(By.CSS_SELECTOR, "#rehearsal .turn time").text == "0:00"
    browser.save_screenshot(str(site.shots / "14-rehearsal.png"))


def _position(driver: WebDriver) -> float:
    return float(driver.execute_script("return document.getElementById('recording').currentTime"))


def test_the_recording_player_seeks_to_a_line_and_along_the_waveform(browser: WebDriver, site: Site) -> None:
    _sign_in(browser, site, site.tenant.api_key)
    browser.get(f"{site.url}/dashboard/calls/{site.recorded.id}")
    _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "svg.waveform rect.agent")))
    wave = browser.find_element(By.CSS_SELECTOR, "svg.waveform")
    assert wave.get_attribute("data-duration-ms") == "10000"
    # Drawn from the stored audio: the agent's bars are tall at the start, the callee's later.
    tall = browser.execute_script(
        "const h = s => [...document.querySelectorAll('svg.waveform rect.' + s)]"
        "  .map(r => Number(r.getAttribute('height')));"
        "return [h('agent')[5], h('agent')[200], h('callee')[5], h('callee')[100]]"
    )
    assert tall[0] > 80 and tall[1] == 0 and tall[2] == 0 and tall[3] > 80
    _wait(browser, lambda d: d.execute_script("return document.getElementById('recording').readyState >= 1"))
    assert browser.execute_script("return document.getElementById('recording').duration") == 10

    # The callee's line starts 3 s after the answer, where the recording starts: it plays from there.
    lines = browser.find_elements(By.CSS_SELECTOR, "#transcript .turn")
    assert [line.get_attribute("data-start") for line in lines] == ["0", "3000"]
    assert lines[1].find_element(By.TAG_NAME, "time").text == "0:03"
    lines[1].click()
    # Seeking needs byte ranges (a 206 from /recordings/…): without them Chromium stays at 0.
    _wait(browser, lambda d: _position(d) >= 3)
    browser.execute_script("document.getElementById('recording').pause()")
    assert 3 <= _position(browser) < 6
    _wait(browser, lambda d: "playing" in (lines[1].get_attribute("class") or ""))
    browser.save_screenshot(str(site.shots / "10-player.png"))

    # A click on the waveform, three quarters along, seeks three quarters into the recording.
    browser.execute_script(
        "const box = arguments[0].getBoundingClientRect();"
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true,"
        " clientX: box.left + box.width * 0.75, clientY: box.top + box.height / 2}))",
        wave,
    )
    _wait(browser, lambda d: _position(d) >= 7.4)
    browser.execute_script("document.getElementById('recording').pause()")
    assert 7.4 <= _position(browser) < 10
    log = _log(browser)
    # The player asked for byte ranges and got them: a 206 for the recording.
    assert 206 in _statuses(log, "/recordings/")


def test_the_browser_starts(browser: WebDriver) -> None:
    """A broken Chromium install is this failure, not a confusing one in the tests above."""
    try:
        browser.get("about:blank")
    except WebDriverException as exc:  # pragma: no cover - the environment, not the code
        pytest.fail(f"chromium-driver could not drive Chromium: {exc}")


def test_a_request_leaving_the_server_is_caught(browser: WebDriver, site: Site) -> None:
    """The check works: a page that asks a CDN for a script and an image is caught asking."""
    browser.get(
        "data:text/html,<script src='https://cdn.example.invalid/htmx.js'></script>"
        "<img src='http://fonts.example.invalid/a.png'>"
    )
    _wait(browser, lambda d: len(_offsite(d, site)) >= 2)
    assert set(_offsite(browser, site)) >= {
        "https://cdn.example.invalid/htmx.js",
        "http://fonts.example.invalid/a.png",
    }
    _ASKED[browser.session_id or ""].clear()  # this test's own: the fixture fails any other test on them


#: Each visible button in <main>: its text, its text colour, and the colour behind it (its own
#: background, else the nearest ancestor's that has one).
_BUTTON_COLOURS = """
const clear = 'rgba(0, 0, 0, 0)';
return [...document.querySelectorAll('main button')].filter(b => b.offsetParent).map(b => {
  let el = b, behind = clear;
  while (el && (behind = getComputedStyle(el).backgroundColor) === clear) { el = el.parentElement; }
  return [b.textContent.trim(), getComputedStyle(b).color, behind];
});
"""


def test_every_button_on_the_admin_pages_can_be_read(browser: WebDriver, site: Site) -> None:
    # An organisation of its own with one of everything that has a button.
    org = make_tenant(site.db, SystemClock().now_ms(), name="buttons org")
    WebhookAdmin(site.db, SystemClock().now_ms, allow_private=True).add(
        org.organization_id, "http://127.0.0.1:9/b"
    )
    Admin(site.db, SystemClock().now_ms).suppress(org.organization_id, "+821099990001", "asked")
    _sign_in(browser, site, org.api_key)
    seen = set()
    for page in ("admin", "admin/agents", "admin/suppressions", "admin/webhooks", "admin/keys"):
        browser.get(f"{site.url}/dashboard/{page}")
        buttons = browser.execute_script(_BUTTON_COLOURS)
        assert buttons, page
        # The remove and revoke buttons were once white on the white card.
        unreadable = [(text, colour) for text, colour, behind in buttons if colour == behind]
        assert unreadable == [], (page, unreadable)
        seen |= {text for text, _, _ in buttons}
    assert {"삭제", "폐기"} <= seen, seen  # remove (endpoint, number) and revoke (key) were checked
    browser.get(f"{site.url}/dashboard/admin/keys")
    browser.save_screenshot(str(site.shots / "15-keys.png"))


def test_a_campaign_from_a_csv_file(browser: WebDriver, site: Site, tmp_path: Path) -> None:
    """The file picker reads the file into the callee list; Excel's Korean CSV (EUC-KR) too."""
    org = make_tenant(site.db, SystemClock().now_ms(), name="csv org")
    sheet = tmp_path / "callees.csv"
    sheet.write_bytes("to_number,customer_name\n01012345678,홍길동\n0101,김철수\n".encode("euc-kr"))
    _sign_in(browser, site, org.api_key)
    browser.get(f"{site.url}/dashboard/campaigns/new")
    browser.find_element(By.NAME, "name").send_keys("파일 캠페인")
    Select(browser.find_element(By.NAME, "agent")).select_by_value(org.agent_id)
    browser.find_element(By.ID, "csv-file").send_keys(str(sheet))
    _wait(browser, lambda d: "홍길동" in (d.find_element(By.ID, "csv").get_attribute("value") or ""))
    assert (browser.find_element(By.ID, "csv").get_attribute("value") or "").splitlines() == [
        "to_number,customer_name",
        "01012345678,홍길동",
        "0101,김철수",
    ]
    browser.find_element(By.ID, "check").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "dry-run")))
    assert "1개 행 통과, 1개 거부." in browser.find_element(By.ID, "dry-run-summary").text
    browser.find_element(By.ID, "create").click()
    _wait(browser, ec.presence_of_element_located((By.ID, "progress")))
    assert browser.find_element(By.ID, "n-total").text == "1"
    browser.save_screenshot(str(site.shots / "16-campaign-from-file.png"))


def _badge(driver: WebDriver, call_id: str) -> str:
    found = driver.execute_script(
        "const b = document.querySelector(`tr[data-call-id='${arguments[0]}'] .badge`);"
        "return b ? b.className : '';",
        call_id,
    )
    return str(found)


def test_the_calls_list_follows_a_call_in_progress(browser: WebDriver, site: Site) -> None:
    org = make_tenant(site.db, SystemClock().now_ms(), name="live org")
    now = SystemClock().now_ms()
    live = a_call(org, at=now - 5000, status=CallStatus.ONGOING, end_at=None, duration_ms=None)
    live = replace(live, disconnection_reason=None, cost_minor=None, analysis=None)
    insert(site.db, live)
    _sign_in(browser, site, org.api_key)
    assert "status-ongoing" in _badge(browser, live.id)
    assert browser.find_elements(By.CSS_SELECTOR, "#calls-table .live")
    # The call ends in the database; the page, left alone, shows it within a refresh or two.
    with site.db.write() as conn:
        conn.execute(
            update(calls)
            .where(calls.c.id == live.id)
            .values(status="ended", disconnection_reason="user_hangup", end_at=now, duration_ms=5000)
        )
    _wait(browser, lambda d: "status-ended" in _badge(d, live.id), timeout=20)
    # Nothing is in progress any more: the table stops asking.
    assert not browser.find_elements(By.CSS_SELECTOR, "#calls-table .live")
    assert browser.find_element(By.ID, "calls-table").get_attribute("hx-trigger") is None
    browser.save_screenshot(str(site.shots / "17-live-refresh.png"))


def test_a_typed_date_is_a_custom_period(browser: WebDriver, site: Site) -> None:
    _sign_in(browser, site, site.tenant.api_key)
    assert len(_rows(browser)) == 50
    # A date picker's change, as the browser sends it once a date is chosen.
    browser.execute_script(
        "for (const [name, day] of [['since', '2020-01-01'], ['until', '2020-01-02']]) {"
        "  const box = document.querySelector(`#filters input[name=${name}]`);"
        "  box.value = day; box.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    assert (
        Select(browser.find_element(By.NAME, "preset")).first_selected_option.get_attribute("value")
        == "custom"
    )
    browser.find_element(By.ID, "apply").click()
    _wait(browser, lambda d: not _rows(d) and d.find_elements(By.CSS_SELECTOR, "#calls-table .empty"))
    assert "preset=custom" in browser.current_url and "since=2020-01-01" in browser.current_url
    # Another period clears the dates, and the calls are back.
    Select(browser.find_element(By.NAME, "preset")).select_by_value("all")
    assert browser.find_element(By.NAME, "since").get_attribute("value") == ""
    browser.find_element(By.ID, "apply").click()
    _wait(browser, lambda d: len(_rows(d)) == 50)
