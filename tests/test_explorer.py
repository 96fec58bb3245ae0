"""The interactive page: its embedded data, and a real headless Chromium that
moves the slider, flips the toggle and picks cells and parameters, checked
against the analysis (symrnn.copies)."""

import json
import re
import shutil
from pathlib import Path

import pytest

import symrnn
from symrnn.cli import main
from symrnn.copies import copy_table
from symrnn.errors import ConfigError
from symrnn.explorer import explorer_data, render_page, script_json
from symrnn.limits import EXPLORER_MAX_STEPS
from symrnn.pictures import COLOURS, layout

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def small_data():
    return explorer_data(cells=[("rnn", symrnn.get_cell("rnn"), "RNN")], max_steps=3, layers=(1,))


def embedded(html):
    match = re.search(r'<script type="application/json" id="symrnn-data">(.*?)</script>', html, re.DOTALL)
    return json.loads(match.group(1))


# --- the file ---------------------------------------------------------------


def test_data_is_the_analysis():
    data = small_data()
    config = data["configs"]["rnn|1|3|last"]
    names = [config["params"][p] + "_" + str(t) for p, t in zip(config["copy_params"], config["steps"])]
    table = copy_table(symrnn.network("rnn"), 3, "w_x")
    assert names == [c.copy for c in table.copies]
    assert config["roles"]["w_x"] == "dddfccfffcf"
    assert config["zero"] == "00010000000"
    assert set(data["configs"]) == {f"rnn|1|{t}|{o}" for o in ("last", "sequence") for t in (1, 2, 3)}


def test_page_is_self_contained_and_deterministic():
    html = render_page(small_data())
    assert render_page(small_data()) == html
    assert embedded(html) == json.loads(json.dumps(small_data()))
    assert set(re.findall(r"https?://[^\s\"'<>]*", html)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import|fetch\(|XMLHttpRequest", html)


def test_script_json_cannot_end_the_script_block():
    hostile = {"label": "</script><script>alert(1)</script><!-- & \u2028 \u2029"}
    text = str(script_json(hostile))
    assert not set("<>&") & set(text) and "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == hostile


def test_cell_labels_are_escaped():
    data = small_data()
    data["cells"][0]["label"] = "<b>RNN</b> & co"
    html = render_page(data)
    assert "&lt;b&gt;RNN&lt;/b&gt; &amp; co" in html and "<b>RNN</b>" not in html


def test_too_many_steps_for_the_page():
    assert EXPLORER_MAX_STEPS == 16
    with pytest.raises(ConfigError, match="steps must be an integer from 1 to 16 for the page"):
        explorer_data(max_steps=17)


def test_default_page_has_every_step_up_to_the_limit(page):
    """The slider runs from 1 to 16; the page stays a few MB."""
    html = page.read_text(encoding="utf-8")
    assert re.search(r'<input type="range" id="steps" min="1" max="16" value="3" step="1">', html)
    assert "(1 to 16)" in html
    data = embedded(html)
    assert data["max_steps"] == 16
    assert set(data["configs"]) == {f"{cell}|{layers}|{steps}|{output}" for cell in ("rnn", "lstm", "gru")
                                    for layers in (1, 2) for steps in range(1, 17)
                                    for output in ("last", "sequence")}
    assert len(html.encode()) < 3_000_000


def test_cli_writes_the_page(tmp_path, capsys, monkeypatch):
    from symrnn import explorer

    monkeypatch.setattr(explorer, "explorer_data", small_data)
    path = tmp_path / "page.html"
    assert main(["explorer", "-o", str(path)]) == 0
    assert embedded(path.read_text(encoding="utf-8"))["configs"].keys() == small_data()["configs"].keys()


# --- in the browser -------------------------------------------------------------


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("explorer") / "page.html"
    path.write_text(render_page(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium through its own chromedriver; never selenium-manager.
    A missing browser fails the test: CI installs it (.ci/deps)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing or shutil.which("chromium") is None:
        pytest.fail(f"missing {missing or 'chromium on PATH'}: install chromium and chromium-driver (.ci/deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1200",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


SHOWN = """
const chip = (g) => [g.dataset.copy, g.dataset.role, g.dataset.zero === "true", g.querySelector("rect").getAttribute("fill"),
                     Number(g.querySelector("rect").getAttribute("x")), Number(g.querySelector("rect").getAttribute("y"))];
const row = (r) => [r.dataset.copy, r.dataset.role, r.dataset.zero === "true", r.querySelector(".role").textContent];
return [Array.from(document.querySelectorAll("#picture g.chip")).map(chip),
        Array.from(document.querySelectorAll("#copies tbody tr")).map(row)];
"""


def check_shown(driver, network, steps, wrt):
    """The picture's chips and the list's rows are exactly the analysis's copies and roles."""
    table = copy_table(network, steps, wrt)
    chips, rows = driver.execute_script(SHOWN)
    expected = {c.copy: (c.role, c.zero) for c in table.copies}
    assert {name: (role, zero) for name, role, zero, *_ in chips} == expected
    assert all(fill == COLOURS[role][0] for _, role, _, fill, *_ in chips)
    # the page draws the Python layout: every chip where pictures.layout puts it
    assert {name: (x, y) for name, *_, x, y in chips} == {c[0]: (c[1], c[2]) for c in layout(network, steps).chips}
    assert [(name, role, zero) for name, role, zero, _ in rows] == [(c.copy, c.role, c.zero) for c in table.copies]
    labels = {"differentiated": "differentiated", "chain": "on the chain", "forward": "forward only",
              "unused": "unused"}
    assert all(text == labels[role] for _, role, _, text in rows)
    assert driver.find_element("id", "steps-value").text == str(steps)
    return table


def test_slider_and_toggle_in_chromium(browser, page):
    from selenium.webdriver.common.keys import Keys

    browser.get(page.as_uri())
    slider, toggle = browser.find_element("id", "steps"), browser.find_element("id", "sequence")
    table = check_shown(browser, symrnn.network("rnn"), 3, "w_x")
    assert [c.copy for c in table.copies if c.role == "chain"] == ["w_a_2", "w_a_3", "w_y_3"]
    assert browser.find_element("id", "question-derivative").text.replace("\n", "") == "∂C/∂w(x)"

    slider.send_keys(Keys.RIGHT, Keys.RIGHT)
    check_shown(browser, symrnn.network("rnn"), 5, "w_x")
    toggle.click()
    table = check_shown(browser, symrnn.network("rnn", output="sequence"), 5, "w_x")
    assert sum(c.role == "chain" for c in table.copies if c.param == "w_y") == 5
    assert slider.get_attribute("max") == "16"
    slider.send_keys(Keys.END)
    check_shown(browser, symrnn.network("rnn", output="sequence"), 16, "w_x")
    slider.send_keys(Keys.HOME)
    check_shown(browser, symrnn.network("rnn", output="sequence"), 1, "w_x")
    toggle.click()
    table = check_shown(browser, symrnn.network("rnn"), 1, "w_x")
    assert [c.copy for c in table.copies if c.zero] == ["w_a_1"]
    summary = browser.find_element("id", "summary").text
    assert summary.startswith("∂C/∂θ sums 1 copy terms (0 of them exactly 0)")


def test_cell_layers_and_parameter_pickers_in_chromium(browser, page):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(page.as_uri())
    Select(browser.find_element("id", "cell")).select_by_value("lstm")
    check_shown(browser, symrnn.network("lstm"), 3, "w_f")  # the first parameter: the forget gate's w^(f)
    Select(browser.find_element("id", "param")).select_by_value("w_F")
    check_shown(browser, symrnn.network("lstm"), 3, "w_F")
    Select(browser.find_element("id", "layers")).select_by_value("2")
    check_shown(browser, symrnn.network("lstm", layers=2), 3, "w_F_l1")
    browser.find_element("id", "steps").send_keys(Keys.LEFT)
    browser.find_element("id", "sequence").click()
    check_shown(browser, symrnn.network("lstm", layers=2, output="sequence"), 2, "w_F_l1")
    Select(browser.find_element("id", "cell")).select_by_value("gru")
    Select(browser.find_element("id", "param")).select_by_value("w_y")
    check_shown(browser, symrnn.network("gru", layers=2, output="sequence"), 2, "w_y")
    assert browser.execute_script("return document.body.dataset.config") == "gru|2|2|sequence|w_y"
    browser.find_element("id", "steps").send_keys(Keys.END)  # the largest configuration on the page
    check_shown(browser, symrnn.network("gru", layers=2, output="sequence"), 16, "w_y")
    Select(browser.find_element("id", "cell")).select_by_value("lstm")
    check_shown(browser, symrnn.network("lstm", layers=2, output="sequence"), 16, "w_y")  # θ is kept
    Select(browser.find_element("id", "param")).select_by_value("w_f_l1")
    check_shown(browser, symrnn.network("lstm", layers=2, output="sequence"), 16, "w_f_l1")
    browser.save_screenshot(str(page.with_suffix(".png")))  # left beside the page for a look
