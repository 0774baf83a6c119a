"""Issue 15, the pages: the class as instructors and runners live it, in headless Chromium
against the real `classctl start`. Treadmill settings, every phone screen fitting at three
viewports in both themes, a refused token, the unknown-class page, joining after the end, the
console's keyboard, replays, names, the gym timer's calls, stopwatch, done lists, announcements,
run again, the big screen, the summary, and axe-core on every page and state."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest
from conftest import screenshot, set_viewport
from helpers import start_classctl
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from test_browser import body, open_instructor, open_phone, text, visible, wait_title, wait_until

# Briefing, a 20 m distance step, treadmill 1.8 mph at 6 % twice with a rest, a jog, a cool-down.
PLAN = """\
title: Treadmill test class
goal: custom
safety: ["Clear space behind you", "Hold the rails on the treadmill"]
announcements: ["Water break after this round", "Slow down: nice and easy"]
segments:
  - {kind: briefing, title: Welcome, duration: 90s, cues: ["Stand tall, eyes forward"]}
  - {kind: walk, title: Backward walk, distance: 20m, cues: ["Short, controlled steps"]}
  - {kind: treadmill, title: Incline walk, duration: 90s, speed: 1.8mph, incline: 6%, rounds: 2, rest: 60s,
     cues: ["Hold the rails, short steps"]}
  - {kind: jog, title: Backward jog, duration: 90s}
  - {kind: cooldown, title: Cool-down, duration: 90s}
"""
WELCOME, WALK, TREAD1, REST, TREAD2, JOG, COOL = range(7)

# For the timer's calls: a 4 s briefing (its last 3 s are the lead-in), then a 24 s jog.
CALLS_PLAN = """\
title: Calls test class
goal: custom
segments:
  - {kind: briefing, title: Get set, duration: 4s}
  - {kind: jog, title: Backward jog, duration: 24s}
  - {kind: walk, title: Backward walk, distance: 10m}
"""

QUIET_PLAN = CALLS_PLAN.replace("goal: custom\n", "goal: custom\ncalls: {lead_in: false, halfway: false, last_ten: false}\n")

VIEWPORTS = [(320, 568), (390, 844), (844, 390)]


# --- helpers ------------------------------------------------------------------------------

def command(console, name, **extra):
    """Sends an instructor command from a console page (skips the confirmation dialogs)."""
    msg = {"type": "command", "command": name, **extra}
    assert console.execute_script("return window.__classctl.live.send(arguments[0])", msg)


def goto(console, phones, step, title=None):
    command(console, "jump", step=step)
    for d in phones:
        wait_until(lambda d=d: body(d, "step") == str(step) and body(d, "status") in ("running", "paused"), 5,
                   f"step {step}")
    if title:
        wait_title(phones, title)


GEOMETRY = """
// Only a few boxes may scroll inside themselves (a long list of safety notes, a very long
// announcement): what they hide is theirs. Any other box that scrolls, or anything outside the
// viewport, means the screen does not fit.
const w = innerWidth, h = innerHeight, doc = document.documentElement;
const MAY_SCROLL = '.safety, .banner, .plan-list, .announce-history';
const out = [];
for (const el of document.querySelectorAll('body *')) {
  if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
  const inner = el.parentElement.closest(MAY_SCROLL);
  if (inner) continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  const o = getComputedStyle(el).overflowY;
  if ((o === 'auto' || o === 'scroll') && el.scrollHeight > el.clientHeight + 1 && !el.matches(MAY_SCROLL))
    out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} scrolls: ${el.scrollHeight} in ${el.clientHeight}`);
  if (r.left < -0.5 || r.right > w + 0.5 || r.bottom > h + 0.5 || r.top < -0.5)
    out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}`);
}
const done = document.getElementById('done');
return {w, h, sw: doc.scrollWidth, sh: doc.scrollHeight, bw: document.body.scrollWidth,
        out: out.slice(0, 8), done: done && !done.hidden ? done.getBoundingClientRect().toJSON() : null};
"""


def check_fits(driver, state, need_done=False):
    """At every viewport, light and dark: no scrolling either way, every visible element inside
    the viewport, and Done (when the step has one) wholly on screen."""
    problems = []
    for width, height in VIEWPORTS:
        for dark in (False, True):
            set_viewport(driver, width, height)
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
                "features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
            time.sleep(0.15)
            g = driver.execute_script(GEOMETRY)
            where = f"{state} at {width}x{height}{' dark' if dark else ''}"
            if g["sw"] > g["w"] or g["sh"] > g["h"]:
                problems.append(f"{where}: page is {g['sw']}x{g['sh']} in a {g['w']}x{g['h']} viewport; outside: {g['out']}")
            elif g["out"]:
                problems.append(f"{where}: outside the viewport: {g['out']}")
            if need_done:
                d = g["done"]
                if not d or d["top"] < 0 or d["bottom"] > g["h"] or d["right"] > g["w"]:
                    problems.append(f"{where}: Done not wholly visible: {d}")
    set_viewport(driver, 390, 844)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
    assert not problems, "\n".join(problems)


def axe_check(driver, what):
    """axe-core (bundled with selenium-axe-python, no network) on the page as it is now:
    no serious or critical violations."""
    from selenium_axe_python import Axe
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {what}:\n" + Axe.report(bad)
    return results


def shot(driver, name, docs=False):
    """test-output/screenshots/NAME.png; `docs`: one of the views in docs/screenshots, which
    are copied from there by hand (a test run never changes the tree)."""
    return screenshot(driver, name)


def api(server):
    with urllib.request.urlopen(f"{server.base_url}/api/classes/{server.code}", timeout=5) as r:
        return json.loads(r.read())


# --- 1, 2, 11: treadmill settings, screens that fit, the summary ----------------------------

def test_treadmill_settings_shown_on_phone_and_console(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server)
    command(inst, "start")
    wait_title([phone], "Welcome")

    # The plan list shows the belt settings of both treadmill rounds.
    rows = inst.find_elements(By.CSS_SELECTOR, "#plan-list .plan-step")
    assert "1.8 mph · incline 6%" in rows[TREAD1].text and "1.8 mph · incline 6%" in rows[TREAD2].text
    assert "mph" not in rows[REST].text

    goto(inst, [phone], TREAD1, "Incline walk")
    assert text(phone, "treadmill") == "1.8 mph · incline 6%"
    # Big: at least as tall as the cue's type, in the upper part of a phone's screen.
    big = phone.execute_script("return parseFloat(getComputedStyle(document.getElementById('treadmill')).fontSize)")
    assert big >= 28, f"treadmill settings in {big}px type"
    wait_until(lambda: text(inst, "treadmill") == "1.8 mph · incline 6%", 3, "the console's belt settings")
    shot(phone, "participant-390x844-treadmill", docs=True)

    # The rest before round 2: "Next:" says how to set the belt.
    goto(inst, [phone], REST, "Rest")
    assert "Next: Incline walk · 1:30 · 1.8 mph · incline 6%" == text(phone, "next")
    assert not visible(phone, "treadmill")
    assert "1.8 mph" in text(inst, "next")
    # Units as the plan gives them: km/h too.
    set_viewport(inst, 1280, 800)


def test_every_phone_screen_fits_in_both_themes(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server, 320, 568)
    # Lobby: the name row at 320 px, the safety notes, the sound button.
    phone.find_element(By.ID, "name").send_keys("Alexandra-Konstantina", Keys.ENTER)
    wait_until(lambda: "Saved" in text(phone, "name-saved"), 3, "the name saved")
    check_fits(phone, "lobby")
    phone.find_element(By.ID, "sound-enable").click()
    check_fits(phone, "lobby (sound on)")

    command(inst, "start")
    wait_title([phone], "Welcome")
    check_fits(phone, "timed step")
    goto(inst, [phone], WALK, "Backward walk")
    check_fits(phone, "distance step", need_done=True)
    inst.find_element(By.ID, "announce-text").send_keys("Water break after this round, then two more rounds of the incline")
    inst.find_element(By.ID, "announce-send").click()
    wait_until(lambda: visible(phone, "announce"), 3, "the announcement")
    check_fits(phone, "distance step with an announcement", need_done=True)
    phone.find_element(By.ID, "done").click()
    check_fits(phone, "distance step, done tapped", need_done=True)
    phone.find_element(By.ID, "announce-close").click()

    goto(inst, [phone], TREAD1, "Incline walk")
    check_fits(phone, "treadmill step")
    phone.find_element(By.ID, "safety-toggle").click()
    check_fits(phone, "treadmill step with the safety notes open")
    phone.find_element(By.ID, "safety-toggle").click()
    goto(inst, [phone], REST, "Rest")
    check_fits(phone, "rest before a treadmill round")
    command(inst, "pause")
    wait_until(lambda: body(phone, "status") == "paused", 3, "paused")
    check_fits(phone, "paused")
    command(inst, "resume")
    goto(inst, [phone], WALK, "Backward walk")
    phone.find_element(By.ID, "stop").click()
    wait_until(lambda: visible(phone, "stop-confirm"), 2, "the stop question")
    check_fits(phone, "distance step, stop question", need_done=True)
    phone.find_element(By.ID, "stop-no").click()

    command(inst, "end")
    wait_until(lambda: body(phone, "status") == "finished" and text(phone, "summary-list"), 5, "the summary")
    check_fits(phone, "finished with the summary")


def test_built_in_class_lobby_fits_with_its_long_safety_notes(start_class, browser):
    """The built-in class has four long safety notes: they scroll inside their own box."""
    server = start_class(None)
    phone = open_phone(browser, server, 320, 568)
    wait_until(lambda: len(phone.find_elements(By.CSS_SELECTOR, "#safety-list li")) >= 4, 5, "the safety notes")
    check_fits(phone, "built-in class lobby")


def test_summary_on_phones_and_console_and_joining_after_the_end(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server)
    command(inst, "start")
    goto(inst, [phone], WALK, "Backward walk")   # the welcome, left within 5 s, counts as skipped
    phone.find_element(By.ID, "done").click()
    wait_until(lambda: text(inst, "done-count") == "1", 3, "the tap counted")
    time.sleep(5.2)
    command(inst, "next")
    wait_title([phone], "Incline walk")
    time.sleep(5.2)
    command(inst, "end")

    wait_until(lambda: "Your done taps: 1" in text(phone, "summary-list"), 5, "the phone's summary")
    phone.refresh()   # the phone's own taps are kept across a reload
    wait_until(lambda: "Your done taps: 1" in text(phone, "summary-list"), 5, "the summary after a reload")
    assert text(phone, "finished-heading") == "Thank you!"
    lines = text(phone, "summary-list")
    assert re.search(r"\b2 steps done", lines), lines
    assert re.search(r"0:1\d total time", lines) and "20 m of distance steps" in lines, lines
    wait_until(lambda: visible(inst, "summary") and "2 steps done" in text(inst, "summary-list"), 3, "the console's summary")
    steps_run = text(inst, "summary-steps").splitlines()
    assert len(steps_run) == 2 and steps_run[0].startswith("Backward walk · 20 m in 0:0"), steps_run
    shot(phone, "participant-390x844-summary", docs=True)

    # A newcomer after the end is told the class has ended (and what it was), not thanked.
    late = open_phone(browser, server)
    wait_until(lambda: text(late, "finished-heading") == "This class has ended", 5, "the ended class")
    assert text(late, "step-title") == "This class has ended"
    assert "2 steps done" in text(late, "summary-list")
    assert "Your done taps: 0" in text(late, "summary-list")
    assert "Thank you" not in late.find_element(By.TAG_NAME, "main").text
    shot(inst, "instructor-1280x800-summary", docs=True)


# --- 3, 4: a refused token, an unknown class ------------------------------------------------

def test_wrong_token_keeps_explaining_and_does_not_count(start_class, browser):
    server = start_class(PLAN)
    good = open_instructor(browser, server)
    phone = open_phone(browser, server)
    bad = browser(1280, 800)
    bad.get(f"{server.base_url}/c/{server.code}/instructor#token=not-the-token")
    wait_until(lambda: visible(bad, "note") and "refused" in text(bad, "note"), 5, "the refused-token note")
    nobody = browser(1280, 800)
    nobody.get(f"{server.base_url}/c/{server.code}/instructor")
    wait_until(lambda: visible(nobody, "note") and "no instructor token" in text(nobody, "note"), 5, "the no-token note")

    note = text(bad, "note")
    assert "classctl start" in note and "instructor link" in note
    assert not visible(bad, "error"), "a lasting note, not a banner that goes away"
    for d in (bad, nobody):
        assert body(d, "role") == "watcher"
        for control in ("primary", "next-btn", "end"):
            assert not d.find_element(By.ID, control).is_enabled()
    # Neither console is counted as a participant: one phone is connected.
    wait_until(lambda: text(good, "participants") == "1", 5, "1 connected")
    assert api(server)["presence"]["participants"] == 1
    time.sleep(15.5)   # the old banner went after 15 s: the note stays
    assert visible(bad, "note") and "refused" in text(bad, "note")
    assert text(good, "participants") == "1"
    shot(bad, "instructor-1280x800-wrong-token")
    axe_check(bad, "console with a refused token")


def test_unknown_class_code_page(start_class, browser):
    server = start_class(PLAN)
    url = f"{server.base_url}/c/NOSUCH"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 404
    assert "text/html" in err.value.headers["Content-Type"]
    page = browser(390, 844)
    page.allowed_errors.append(r"status of 404")
    page.get(url)
    assert page.title == "No class here"
    words = page.find_element(By.TAG_NAME, "main").text
    assert "not here" in words and "ended" in words and "mistyped" in words
    assert "QR code" in words and "instructor" in words
    # In the page's look: the shared stylesheet applied (bar, big heading), in both themes.
    assert page.find_element(By.CSS_SELECTOR, ".bar").value_of_css_property("border-bottom-style") == "solid"
    assert float(page.find_element(By.TAG_NAME, "h1").value_of_css_property("font-size")[:-2]) >= 30
    axe_check(page, "the unknown-class page")
    page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    assert page.execute_script("return getComputedStyle(document.body).backgroundColor") == "rgb(0, 0, 0)"
    check_fits(page, "unknown class")


# --- 6: the console's keyboard and layout ---------------------------------------------------

def test_console_keyboard_respects_focus_and_layout_fits(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server)
    command(inst, "start")
    wait_title([phone, inst], "Welcome")

    # Space on a focused Next presses Next: the class moves on and does not pause.
    nxt = inst.find_element(By.ID, "next-btn")
    inst.execute_script("arguments[0].focus()", nxt)
    nxt.send_keys(Keys.SPACE)
    wait_title([phone], "Backward walk")
    time.sleep(0.5)
    assert body(phone, "status") == "running"

    # Enter on a focused plan row asks to jump to THAT step (and does not pause).
    rows = inst.find_elements(By.CSS_SELECTOR, "#plan-list .plan-step")
    inst.execute_script("arguments[0].focus()", rows[JOG])
    rows[JOG].send_keys(Keys.ENTER)
    dialog = inst.find_element(By.ID, "confirm")
    wait_until(dialog.is_displayed, 2, "the jump dialog")
    assert "Backward jog" in text(inst, "confirm-text")
    dialog.find_element(By.CSS_SELECTOR, "button[value=cancel]").click()
    # Space on a focused plan row: the same dialog, not a pause.
    inst.execute_script("arguments[0].focus()", rows[COOL])
    rows[COOL].send_keys(Keys.SPACE)
    wait_until(dialog.is_displayed, 2, "the jump dialog from Space")
    assert "Cool-down" in text(inst, "confirm-text")
    dialog.find_element(By.CSS_SELECTOR, "button[value=cancel]").click()
    time.sleep(0.4)
    assert body(phone, "status") == "running"

    # The focus ring of a row in the scrolling list is drawn whole, inside the list.
    last = rows[-1]
    inst.execute_script("arguments[0].focus()", rows[-2])
    rows[-2].send_keys(Keys.TAB)   # by keyboard, so the ring shows (:focus-visible)
    assert inst.execute_script("return document.activeElement") == last
    ring = inst.execute_script("""
      const el = arguments[0], list = document.getElementById('plan-list'), s = getComputedStyle(el);
      const r = el.getBoundingClientRect(), l = list.getBoundingClientRect();
      const out = parseFloat(s.outlineOffset) + parseFloat(s.outlineWidth);
      return {out, style: s.outlineStyle, inside: r.top - Math.max(0, out) >= l.top && r.bottom + Math.max(0, out) <= l.bottom
              && r.left - Math.max(0, out) >= l.left && r.right + Math.max(0, out) <= l.right};""", last)
    assert ring["style"] != "none" and ring["inside"], ring

    # With focus on nothing interactive, the global shortcuts work: Space pauses.
    inst.execute_script("document.activeElement.blur()")
    inst.find_element(By.TAG_NAME, "body").send_keys(Keys.SPACE)
    wait_until(lambda: body(phone, "status") == "paused", 3, "paused by the Space shortcut")

    # At 1280x800 mid-class the End button is on screen without scrolling.
    inst.execute_script("scrollTo(0, 0)")
    end = inst.execute_script("return document.getElementById('end').getBoundingClientRect().toJSON()")
    assert end["bottom"] <= 800 and end["right"] <= 1280, end
    # The class time left and when it ends, for planning the session.
    assert re.search(r"Class time left \d+:\d\d · ends about \d\d:\d\d", text(inst, "time-left")), text(inst, "time-left")


# --- 7: replay -----------------------------------------------------------------------------

def test_replay_is_labelled_everywhere_and_has_no_controls(start_class, browser, tmp_path):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    inst.allowed_errors.append("ERR_CONNECTION_REFUSED")   # the recorded class's server goes
    command(inst, "start")
    wait_until(lambda: body(inst, "status") == "running", 3, "running")
    time.sleep(0.5)
    # One SIGTERM: the server stops and the class is left unfinished, so its replay runs on.
    server.proc.terminate()
    server.proc.wait(10)
    recording = next(server.record_dir.glob("*.jsonl"))
    r = start_classctl(str(recording), "--host", "127.0.0.1", "--port", "0", "--code", "RPLY",
                       "--speed", "2", "--record-dir", str(tmp_path / "rec2"))
    try:
        base = f"http://127.0.0.1:{r.port}"
        token = re.search(r"#token=([0-9a-f]+)", r.output()).group(1)
        console = browser(1280, 800)
        console.get(f"{base}/c/RPLY/instructor#token={token}")
        wait_until(lambda: body(console, "role") == "instructor", 10, "the replay's console")
        phone = browser(390, 844)
        phone.get(f"{base}/c/RPLY")
        big = browser(1280, 720)
        big.get(f"{base}/c/RPLY/screen")
        for d in (console, phone, big):
            d.allowed_errors.append("ERR_CONNECTION_REFUSED")   # the replay's server stops first
        for d in (console, phone, big):
            wait_until(lambda d=d: visible(d, "replay") and text(d, "replay").upper().endswith("REPLAY AT 2×"), 5, "the replay label")
        # At 2x the 90 s welcome lasts 45 s: the label says why it counts down from 0:45.
        wait_until(lambda: body(console, "status") == "running", 5, "the replay running")
        assert 35 <= int(text(console, "big").split(":")[1]) <= 45 and text(console, "big").startswith("0:")
        note = text(console, "note")
        assert "Replay at 2×" in note and "no controls" in note
        for control in ("primary", "previous", "next-btn", "extend", "end", "announce-send"):
            assert not visible(console, control), f"{control} shown in a replay"
        rows = console.find_elements(By.CSS_SELECTOR, "#plan-list .plan-step")
        assert rows and not rows[0].is_enabled()
        shot(console, "instructor-1280x800-replay", docs=True)
        check_fits(phone, "a replay's step (the label in the title bar)")
        axe_check(console, "the replay's console")
    finally:
        r.stop()


# --- 8: names ------------------------------------------------------------------------------

def test_names_cut_on_graphemes_and_saving_is_confirmed(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server)
    family, flag = "👨‍👩‍👧", "🇯🇵"
    long_name = "A" * 38 + family + flag + "overflow"
    field = phone.find_element(By.ID, "name")
    # Typed as is: the field's maxlength (UTF-16 units) leaves room for emoji; saving cuts.
    field.send_keys(long_name)
    phone.find_element(By.CSS_SELECTOR, "#name-form button[type=submit]").click()
    want = "A" * 38 + family + flag
    wait_until(lambda: visible(phone, "name-saved") and "Saved" in text(phone, "name-saved"), 3, "the confirmation")
    assert phone.execute_script("return document.getElementById('name').value") == want
    assert phone.execute_script("return localStorage.getItem('classctl.name')") == want
    wait_until(lambda: want in text(inst, "names"), 5, "the whole name on the console")
    assert want in text(phone, "name-saved")


# --- 9: the gym timer -----------------------------------------------------------------------

def test_calls_lead_in_halfway_and_ten_seconds_switchable_per_phone(start_class, browser):
    server = start_class(CALLS_PLAN)
    inst = open_instructor(browser, server)
    on = open_phone(browser, server)
    off = open_phone(browser, server)
    off.find_element(By.ID, "calls").click()
    assert text(off, "calls").endswith("off")
    assert off.execute_script("return localStorage.getItem('classctl.calls')") == "off"
    command(inst, "start")
    wait_title([on], "Backward jog", 6)
    calls = on.execute_script("return window.__classctl.calls")
    assert [(c["kind"], c["say"]) for c in calls] == [("lead-in", "3"), ("lead-in", "2"), ("lead-in", "1")], calls
    # Each count in its second before the jog starts.
    jog_at = next(s["at"] for s in on.execute_script("return window.__classctl.switches") if s["step"] == 1)
    for c, n in zip(calls, (3, 2, 1)):
        assert n * 1000 - 300 <= jog_at - c["at"] <= n * 1000 + 100, (c, jog_at)
    wait_until(lambda: len(on.execute_script("return window.__classctl.calls")) >= 5, 16, "halfway and ten seconds")
    later = on.execute_script("return window.__classctl.calls")[3:]
    assert [(c["kind"], c["say"]) for c in later] == [("halfway", "Halfway"), ("last-ten", "10 seconds")]
    assert off.execute_script("return window.__classctl.calls") == []
    # The switch survives a reload.
    off.refresh()
    wait_until(lambda: text(off, "calls").endswith("off"), 5, "the phone's switch kept")

    # Distance step: a stopwatch since the step began.
    wait_title([on], "Backward walk", 14)
    first = text(on, "stopwatch")
    assert re.search(r"⏱ 0:0\d so far", first), first
    time.sleep(2.1)
    assert text(on, "stopwatch") != first


def test_plan_can_switch_the_calls_off(start_class, browser):
    server = start_class(QUIET_PLAN)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server)
    assert not visible(phone, "calls"), "nothing to switch when the plan has no calls"
    command(inst, "start")
    wait_title([phone], "Backward jog", 6)
    assert phone.execute_script("return window.__classctl.calls") == []


def test_console_done_lists_presets_history_and_run_again(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    ana, bo, anon = (open_phone(browser, server) for _ in range(3))
    for d, n in ((ana, "Ana"), (bo, "Bo")):
        d.find_element(By.ID, "name").send_keys(n, Keys.ENTER)
    wait_until(lambda: "Ana" in text(inst, "names") and "Bo" in text(inst, "names"), 5, "the names")
    command(inst, "start")
    goto(inst, [ana, bo, anon], WALK, "Backward walk")
    ana.find_element(By.ID, "done").click()
    anon.find_element(By.ID, "done").click()
    wait_until(lambda: text(inst, "done-names") == "Ana, 1 without a name", 5, "who is done")
    assert text(inst, "out-names") == "Bo"
    assert text(inst, "done-n") == "2" and text(inst, "out-n") == "1"
    assert re.search(r"⏱ 0:\d\d", text(inst, "stopwatch"))

    # A ready-made announcement is one tap, and the history lists what was sent.
    presets = inst.find_elements(By.CSS_SELECTOR, "#presets .preset")
    assert [p.text for p in presets] == ["Water break after this round", "Slow down: nice and easy"]
    presets[1].click()
    wait_until(lambda: text(bo, "announce-text") == "Slow down: nice and easy", 3, "the preset on a phone")
    inst.find_element(By.ID, "announce-text").send_keys("Last round coming")
    inst.find_element(By.ID, "announce-send").click()
    wait_until(lambda: len(inst.find_elements(By.CSS_SELECTOR, "#announce-history li")) == 2, 3, "the history")
    items = [li.text for li in inst.find_elements(By.CSS_SELECTOR, "#announce-history li")]
    assert items[0].endswith("Last round coming") and items[1].endswith("Slow down: nice and easy")
    assert re.match(r"\d\d:\d\d ", items[0])
    inst.execute_script("scrollTo(0, 0)")
    shot(inst, "instructor-1280x800-done-lists", docs=True)
    axe_check(inst, "the console mid-class")

    # Run again, from the console: a finished class starts over, idle, for every phone.
    command(inst, "end")
    wait_until(lambda: visible(inst, "run-again"), 5, "Run again")
    axe_check(inst, "the finished console")
    inst.find_element(By.ID, "run-again").click()
    dialog = inst.find_element(By.ID, "confirm")
    wait_until(dialog.is_displayed, 2, "the confirmation")
    inst.find_element(By.ID, "confirm-ok").click()
    for d in (ana, bo, anon, inst):
        wait_until(lambda d=d: body(d, "status") == "idle", 5, "the class idle again")
    assert not visible(inst, "run-again") and not visible(inst, "summary")
    wait_title([ana], "Waiting for the instructor to start")


# --- 10: the big screen --------------------------------------------------------------------

def test_big_screen_lobby_and_class(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    screen = browser(1920, 1080)
    screen.get(f"{server.base_url}/c/{server.code}/screen")
    wait_until(lambda: body(screen, "connection") == "connected" and visible(screen, "lobby"), 10, "the lobby")
    phones = [open_phone(browser, server), open_phone(browser, server)]
    wait_until(lambda: text(screen, "joined") == "2", 5, "2 joined")
    assert "phones joined" in text(screen, "lobby")
    # Kahoot-style: the names the phones give appear on the screen's lobby.
    phones[0].find_element(By.ID, "name").send_keys("Ana", Keys.ENTER)
    wait_until(lambda: "Ana" in text(screen, "lobby-names"), 5, "Ana's name on the big screen")
    # The screen is a watcher: not counted as a participant.
    assert api(server)["presence"]["participants"] == 2
    for width, height in ((1280, 720), (1920, 1080)):
        set_viewport(screen, width, height)
        time.sleep(0.2)
        g = screen.execute_script(GEOMETRY)
        assert g["sh"] <= g["h"] and g["sw"] <= g["w"] and not g["out"], (width, height, g)
    qr = screen.find_element(By.ID, "qr")
    wait_until(lambda: screen.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", qr), 5, "the QR")
    assert qr.get_attribute("src").endswith(f"/c/{server.code}/qr.svg")
    assert f"/c/{server.code}" in text(screen, "join-link")
    assert qr.rect["height"] >= 400, "a QR code a phone can scan from the room"
    assert "First: Welcome" in text(screen, "first-step")
    shot(screen, "screen-1920x1080-lobby", docs=True)
    axe_check(screen, "the big screen's lobby")

    command(inst, "start")
    goto(inst, phones + [screen], TREAD2, "Incline walk")
    assert text(screen, "position") == "ROUND 2 OF 2"
    assert text(screen, "treadmill") == "1.8 mph · incline 6%"
    assert "Next: Backward jog" in text(screen, "next")
    sizes = screen.execute_script("""return ['big', 'step-title', 'treadmill', 'next'].map((id) =>
        parseFloat(getComputedStyle(document.getElementById(id)).fontSize))""")
    # Readable from 10 m: the countdown a third of the screen high, the rest at least 40 px.
    assert sizes[0] >= 300 and min(sizes[1:]) >= 40, sizes
    shot(screen, "screen-1920x1080-running", docs=True)
    for width, height in ((1920, 1080), (1280, 720), (1024, 768)):   # TVs and projectors
        set_viewport(screen, width, height)
        time.sleep(0.2)
        g = screen.execute_script(GEOMETRY)
        assert g["sh"] <= g["h"] and g["sw"] <= g["w"] and not g["out"], (width, height, g)
    set_viewport(screen, 1920, 1080)
    axe_check(screen, "the big screen in class")
    command(inst, "end")
    wait_until(lambda: "steps done" in text(screen, "summary-list"), 5, "the summary on the big screen")
    axe_check(screen, "the big screen after the class")


# --- 12: axe-core on the phone's states ------------------------------------------------------

def test_axe_on_every_phone_state(start_class, browser):
    server = start_class(PLAN)
    inst = open_instructor(browser, server)
    phone = open_phone(browser, server)
    dark = open_phone(browser, server, 844, 390, dark=True)
    axe_check(phone, "phone lobby")
    axe_check(inst, "console before the start")
    command(inst, "start")
    wait_title([phone], "Welcome")
    goto(inst, [phone, dark], TREAD1, "Incline walk")
    axe_check(phone, "phone treadmill step")
    axe_check(dark, "phone treadmill step, dark landscape")
    goto(inst, [phone, dark], WALK, "Backward walk")
    command(inst, "pause")
    wait_until(lambda: body(phone, "status") == "paused", 3, "paused")
    inst.find_element(By.ID, "announce-text").send_keys("Water break")
    inst.find_element(By.ID, "announce-send").click()
    wait_until(lambda: visible(phone, "announce"), 3, "the announcement")
    axe_check(phone, "phone paused distance step with an announcement")
    axe_check(dark, "dark phone paused with an announcement")
    command(inst, "resume")
    phone.find_element(By.ID, "stop").click()
    axe_check(phone, "phone stop question")
    phone.find_element(By.ID, "stop-no").click()
    command(inst, "end")
    wait_until(lambda: body(phone, "status") == "finished", 3, "finished")
    axe_check(phone, "phone summary")
    axe_check(dark, "dark phone summary")
