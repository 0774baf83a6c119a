"""The participant page and the instructor console in headless Chromium against the real
`classctl start`: a whole short class on three phones, the controls, and the page weight."""

from __future__ import annotations

import re
import time
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
from conftest import screenshot, set_viewport
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

SHORT_CLASS = """\
title: Test class
goal: custom
safety: ["Clear space behind you", "Look over your shoulder"]
segments:
  - {kind: walk, title: Backward walk, duration: 6s, cues: [{at: 0s, text: Short steps}, {at: 2s, text: Stand tall}]}
  - {kind: jog, title: Backward jog, distance: 25m}
  - {kind: cooldown, title: Cool-down, duration: 3s}
"""

LONG_CLASS = """\
title: Long test class
goal: custom
safety: ["Clear space behind you"]
segments:
  - {kind: walk, title: Backward walk, duration: 60s}
  - {kind: jog, title: Backward jog, distance: 25m}
  - {kind: cooldown, title: Cool-down, duration: 60s}
"""

SWITCH_SPREAD_MS = 100  # phones must change step within this of each other (server time)


# --- helpers ------------------------------------------------------------------------------

def wait_until(check, timeout=5.0, what="condition"):
    """Polls `check()` until it returns something truthy; fails with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # the page may be mid-reload
            last = exc
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def visible(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def body(driver, attr):
    return driver.find_element(By.TAG_NAME, "body").get_attribute(f"data-{attr}")


def seconds(clock: str) -> int:
    m = re.fullmatch(r"(\d+):(\d\d)", clock.strip())
    assert m, f"not a countdown: {clock!r}"
    return int(m.group(1)) * 60 + int(m.group(2))


def press(driver, key):
    driver.find_element(By.TAG_NAME, "body").send_keys(key)


def wait_title(drivers, title, timeout=5.0):
    for d in drivers:
        wait_until(lambda d=d: text(d, "step-title") == title, timeout, f"step title {title!r}")


def switched_at(driver, status, step):
    """Server time at which the page showed (status, step), from its debug object."""
    switches = driver.execute_script("return window.__classctl.switches")
    found = [s["at"] for s in switches if s["status"] == status and s["step"] == step]
    assert found, f"page never showed {status} step {step}: {switches}"
    return found[-1]


def open_instructor(browser, server, width=1280, height=800, **kw):
    d = browser(width, height, **kw)
    d.get(server.instructor_url)
    wait_until(lambda: body(d, "role") == "instructor", 10, "instructor role")
    return d


def open_phone(browser, server, width=390, height=844, **kw):
    d = browser(width, height, **kw)
    d.get(server.participant_url)
    wait_until(lambda: body(d, "connection") == "connected", 10, "participant connected")
    return d


# --- tests --------------------------------------------------------------------------------

def test_whole_class_on_three_phones(start_class, browser):
    server = start_class(SHORT_CLASS)
    inst = open_instructor(browser, server)
    # The token left the address bar but is kept for this tab.
    assert "token" not in inst.current_url
    assert inst.execute_script(f"return sessionStorage.getItem('classctl.token.{server.code}')") == server.token

    phones = [open_phone(browser, server), open_phone(browser, server), open_phone(browser, server, 1280, 800)]
    for p in phones:
        wait_title([p], "Waiting for the instructor to start")
        assert "Clear space behind you" in text(p, "safety-list")
        assert visible(p, "sound-enable")

    # A name given on a phone reaches the instructor's list.
    phones[0].find_element(By.ID, "name").send_keys("Ana", Keys.ENTER)
    wait_until(lambda: "Ana" in text(inst, "names"), 5, "Ana in the instructor's names")
    wait_until(lambda: text(inst, "participants") == "3", 5, "3 participants")
    phones[0].find_element(By.ID, "sound-enable").click()
    assert not visible(phones[0], "sound-enable")
    screenshot(phones[0], "participant-390x844-waiting")
    screenshot(inst, "instructor-1280x800-ready")

    # Start with the keyboard: every phone switches, within SWITCH_SPREAD_MS of the others.
    press(inst, Keys.SPACE)
    wait_title(phones + [inst], "Backward walk")
    starts = [switched_at(d, "running", 0) for d in phones + [inst]]
    assert max(starts) - min(starts) < SWITCH_SPREAD_MS, f"step 0 shown at {starts}"
    assert text(phones[0], "cue") == "Short steps"
    assert text(phones[1], "position") == "STEP 1 OF 3"
    wait_until(lambda: text(phones[1], "cue") == "Stand tall", 4, "the 2 s cue")
    screenshot(phones[0], "participant-390x844-running")
    screenshot(phones[2], "participant-1280x800-running")

    # Pause: the countdown freezes on every page.
    inst.find_element(By.ID, "primary").click()
    for d in phones + [inst]:
        wait_until(lambda d=d: body(d, "status") == "paused" and visible(d, "paused-label"), 3, "paused")
    frozen = [text(d, "big") for d in phones]
    time.sleep(1.5)
    assert [text(d, "big") for d in phones] == frozen
    screenshot(phones[0], "participant-390x844-paused")

    # Resume, then +30 s with the E key.
    press(inst, Keys.SPACE)
    wait_until(lambda: body(phones[0], "status") == "running", 3, "running again")
    wait_until(lambda: text(phones[0], "big") != frozen[0], 2.5, "the countdown moving again")
    press(inst, "e")
    for d in phones:
        wait_until(lambda d=d: seconds(text(d, "big")) > 30, 3, "+30 s on the countdown")

    # Voice off survives a reload; a reloaded page shows the current step at once.
    phones[1].find_element(By.ID, "voice").click()
    assert text(phones[1], "voice").endswith("off")
    phones[1].refresh()
    wait_until(lambda: text(phones[1], "step-title") == "Backward walk" and seconds(text(phones[1], "big")) > 25,
               3, "the walk step right after the reload")
    assert text(phones[1], "voice").endswith("off")

    # A phone cut off while the instructor moves on catches up when it reconnects.
    phones[2].execute_script("window.__classctl.dropConnection(3000)")
    wait_until(lambda: body(phones[2], "connection") == "reconnecting", 2, "the reconnecting indicator")
    assert text(phones[2], "conn-text") == "Offline — following the plan"  # calmly: the class runs
    inst.find_element(By.ID, "next-btn").click()
    wait_title(phones[:2], "Backward jog")
    assert text(phones[2], "step-title") == "Backward walk"  # still cut off
    wait_until(lambda: body(phones[2], "connection") == "connected", 12, "reconnected")
    wait_title([phones[2]], "Backward jog", 2)

    # The distance step: the big "25 m", and taps on Done reach the instructor.
    for d in phones:
        assert text(d, "big") == "25 m"
    for d in phones[:2]:
        d.find_element(By.ID, "done").click()
    wait_until(lambda: text(inst, "done-count") == "2", 5, "2 done on the instructor console")
    assert not phones[0].find_element(By.ID, "done").is_enabled()
    assert phones[2].find_element(By.ID, "done").is_enabled()

    # An announcement shows as a banner on every phone.
    inst.find_element(By.ID, "announce-text").send_keys("Water break after this round")
    inst.find_element(By.ID, "announce-send").click()
    for d in phones:
        wait_until(lambda d=d: text(d, "announce-text") == "Water break after this round", 3, "the banner")
    screenshot(phones[0], "participant-390x844-distance")
    inst.execute_script("scrollTo(0, 0)")
    screenshot(inst, "instructor-1280x800-running")
    set_viewport(inst, 390, 844)
    screenshot(inst, "instructor-390x844-running")
    set_viewport(inst, 1280, 800)

    # Next with →, the 3 s cool-down runs out, and the class is finished everywhere.
    press(inst, Keys.ARROW_RIGHT)
    wait_title(phones, "Cool-down")
    cooldown = [switched_at(d, "running", 2) for d in phones]
    assert max(cooldown) - min(cooldown) < SWITCH_SPREAD_MS, f"step 2 shown at {cooldown}"
    wait_title(phones + [inst], "Class finished", 6)
    for d in phones:
        assert visible(d, "finished") and "Thank you" in text(d, "finished")
    ends = [switched_at(d, "finished", None) for d in phones]
    assert max(ends) - min(ends) < SWITCH_SPREAD_MS, f"finish shown at {ends}"
    assert "finished" in text(inst, "primary").lower()
    assert inst.find_element("id", "primary").get_attribute("disabled") is not None
    screenshot(phones[0], "participant-390x844-finished")


def test_end_and_jump_ask_for_confirmation(start_class, browser):
    server = start_class(LONG_CLASS)
    inst = open_instructor(browser, server, 390, 844)
    phone = open_phone(browser, server)
    inst.find_element(By.ID, "primary").click()
    wait_title([phone], "Backward walk")
    assert "Previous" in text(inst, "previous") and not inst.find_element(By.ID, "previous").is_enabled()

    # Clicking a step in the plan asks first; Cancel changes nothing, Jump jumps.
    plan_steps = inst.find_elements(By.CSS_SELECTOR, "#plan-list .plan-step")
    inst.execute_script("arguments[0].scrollIntoView()", plan_steps[2])
    plan_steps[2].click()
    dialog = inst.find_element(By.ID, "confirm")
    wait_until(dialog.is_displayed, 2, "the jump dialog")
    assert "Cool-down" in text(inst, "confirm-text")
    dialog.find_element(By.CSS_SELECTOR, "button[value=cancel]").click()
    time.sleep(0.6)
    assert text(phone, "step-title") == "Backward walk"
    plan_steps[2].click()
    wait_until(dialog.is_displayed, 2, "the jump dialog")
    inst.find_element(By.ID, "confirm-ok").click()
    wait_title([phone], "Cool-down")
    assert inst.find_elements(By.CSS_SELECTOR, "#plan-list li")[2].get_attribute("class") == "current"

    # End: a <dialog>, not confirm(); Cancel keeps the class running.
    inst.find_element(By.ID, "end").click()
    wait_until(dialog.is_displayed, 2, "the end dialog")
    screenshot(inst, "instructor-390x844-confirm-end")
    dialog.find_element(By.CSS_SELECTOR, "button[value=cancel]").click()
    time.sleep(0.6)
    assert body(phone, "status") == "running"
    inst.find_element(By.ID, "end").click()
    wait_until(dialog.is_displayed, 2, "the end dialog")
    inst.find_element(By.ID, "confirm-ok").click()
    wait_title([phone], "Class finished")


def test_wrong_token_is_shown_and_controls_stay_off(start_class, browser):
    server = start_class(LONG_CLASS)
    inst = browser(1280, 800)
    inst.get(f"{server.base_url}/c/{server.code}/instructor#token=not-the-token")
    wait_until(lambda: visible(inst, "note"), 5, "the lasting note")
    assert "refused" in text(inst, "note")
    assert "token" not in inst.current_url
    assert body(inst, "role") != "instructor"
    assert not inst.find_element(By.ID, "primary").is_enabled()


def test_need_to_stop_reaches_the_console_until_seen(start_class, browser):
    """Issue 12's feature: a phone's "I need to stop" (confirm, then undo) becomes an alert on
    the console naming the participant until the instructor taps Seen; both ends in Chromium."""
    server = start_class(LONG_CLASS)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server)
    anon = open_phone(browser, server)
    phone.find_element(By.ID, "name").send_keys("Ana")
    phone.find_element(By.ID, "name-form").submit()
    assert not visible(phone, "stop"), "no stop button before the class starts"
    inst.find_element(By.ID, "primary").click()
    wait_until(lambda: visible(phone, "stop"), 5, "the stop button in class")

    # Cancel first: nothing is sent.
    phone.find_element(By.ID, "stop").click()
    wait_until(lambda: visible(phone, "stop-confirm"), 2, "the question")
    phone.find_element(By.ID, "stop-no").click()
    wait_until(lambda: visible(phone, "stop"), 2, "the button again")
    time.sleep(0.4)
    assert not visible(inst, "alerts")

    phone.find_element(By.ID, "stop").click()
    phone.find_element(By.ID, "stop-yes").click()
    wait_until(lambda: visible(phone, "stop-sent"), 3, "the phone's 'stop and step aside'")
    wait_until(lambda: visible(inst, "alerts"), 3, "the console's alert")
    assert "Ana needs to stop" in text(inst, "alert-list")
    assert "Backward walk" in text(inst, "alert-list")

    # An unnamed phone shows as "a participant"; it takes its signal back.
    anon.find_element(By.ID, "stop").click()
    anon.find_element(By.ID, "stop-yes").click()
    wait_until(lambda: "A participant needs to stop" in text(inst, "alert-list"), 3, "the unnamed alert")
    screenshot(inst, "instructor-1280x800-stop-alert")
    screenshot(phone, "participant-390x844-stop-sent")
    anon.find_element(By.ID, "stop-undo").click()
    wait_until(lambda: "A participant" not in text(inst, "alert-list"), 3, "the withdrawn alert gone")

    inst.find_element(By.CSS_SELECTOR, "#alert-list button").click()
    wait_until(lambda: not visible(inst, "alerts"), 3, "the alert gone after Seen")
    wait_until(lambda: "has seen it" in text(phone, "stop-sent-text"), 3, "the phone told it was seen")
    metrics = urllib.request.urlopen(f"{server.base_url}/metrics").read().decode()
    assert f'classctl_class_stop_signals_total{{class="{server.code}"}} 2' in metrics


def test_dark_theme_and_landscape(start_class, browser):
    server = start_class(LONG_CLASS)
    light = open_phone(browser, server)
    dark = open_phone(browser, server, 844, 390, dark=True)
    inst = open_instructor(browser, server, dark=True)
    background = "return getComputedStyle(document.body).backgroundColor"
    assert light.execute_script(background) == "rgb(255, 255, 255)"
    assert dark.execute_script(background) == "rgb(0, 0, 0)"
    inst.find_element(By.ID, "primary").click()
    wait_title([dark], "Backward walk")
    # Landscape: the countdown sits beside the step title, both on screen at once.
    title = dark.find_element(By.ID, "step-title").rect
    big = dark.find_element(By.ID, "big").rect
    assert big["x"] > title["x"] + title["width"] / 2
    assert big["y"] + big["height"] <= 390
    screenshot(dark, "participant-844x390-dark")
    screenshot(inst, "instructor-1280x800-dark")
    inst.find_element(By.ID, "qr-full").click()
    wait_until(lambda: visible(inst, "qr-overlay"), 2, "the full-screen QR")
    assert inst.find_element(By.ID, "qr-big").get_attribute("src").endswith(f"/c/{server.code}/qr.svg")
    screenshot(inst, "instructor-1280x800-qr")


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") in ("stylesheet", "icon", "modulepreload", "manifest"):
            self.urls.append(a["href"])


IMPORT = re.compile(r"""(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\s*['"]([^'"]+)['"]""")


def test_participant_page_weight(start_class):
    """The page and everything it loads, as sent gzip-compressed, stays under 60 KiB."""
    server = start_class(LONG_CLASS)

    def fetch(url):
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()  # urllib leaves the body compressed: these are the bytes sent
            plain = raw
            if resp.headers.get("Content-Encoding") == "gzip":
                import gzip
                plain = gzip.decompress(raw)
            return len(raw), plain.decode("utf-8", "replace")

    page = server.participant_url
    sizes = {}
    size, html = fetch(page)
    sizes[page] = size
    parser = _Assets()
    parser.feed(html)
    queue = [urljoin(page, u) for u in parser.urls]
    while queue:
        url = queue.pop()
        if url in sizes:
            continue
        size, content = fetch(url)
        sizes[url] = size
        if url.endswith(".js"):
            queue += [urljoin(url, a or b) for a, b in IMPORT.findall(content)]
    assert any(u.endswith("/app/participant.js") for u in sizes) and any(u.endswith("/app/live.js") for u in sizes)
    total = sum(sizes.values())
    assert total < 60 * 1024, f"participant page weighs {total} bytes: {sizes}"
