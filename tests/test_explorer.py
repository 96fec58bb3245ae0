"""The interactive page: its embedded data, and a real headless Chromium that
moves the slider, flips the toggle and picks cells and parameters, checked
against the analysis (symrnn.copies)."""

import json
import re
import shutil
import time
from pathlib import Path

import pytest

import symrnn
from symrnn.cli import main
from symrnn.copies import CopyAnalysis, copy_table
from symrnn.errors import ConfigError
from symrnn.explorer import (MAGNITUDE_COLOURS, MAGNITUDE_OTHER, MAGNITUDE_ZERO, explorer_data, magnitude_bins,
                             render_page, script_json)
from symrnn.flow import term_norms
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
    assert config["windows"]["w_x"] == "32113211111"  # the least window K that keeps each role
    assert config["zero"] == "00010000000"
    # each copy's term norm at the seeded example: symrnn.flow's, w_a_1 (on a0 = 0) exactly 0
    terms, _ = term_norms(symrnn.network("rnn"), 3, seed=data["magnitude"]["seed"])
    assert config["norms"] == [float(f"{terms[c.param][c.step - 1]:.3g}") for c in table.copies]
    assert config["norms"][3] == 0 and all(v > 0 for k, v in enumerate(config["norms"]) if k != 3)
    assert config["norms"][-2:] == [float(f"{terms['w_y'][2]:.3g}"), float(f"{terms['b_y'][2]:.3g}")]
    assert config["window_norms"] == []  # one output: a window keeps its copies' full terms
    sequence = data["configs"]["rnn|1|3|sequence"]
    windowed, _ = term_norms(symrnn.network("rnn", output="sequence"), 3, seed=0, truncate=1)
    copies = copy_table(symrnn.network("rnn", output="sequence"), 3, "w_x").copies
    assert sequence["window_norms"][0] == [float(f"{windowed[c.param][c.step - 1]:.3g}") for c in copies]
    assert len(sequence["window_norms"]) == 2  # K = 1, 2; K >= T is full BPTT
    assert config["param_labels"][:2] == [["w", "x", "", ""], ["w", "a", "", ""]]
    assert config["title"] == [" for rnn, ", ["T", "", "", ""], " = 3, output last, 1 layer"]
    assert magnitude_bins([0.0343, 0, 0.213, 2.39]) == ([1, None, 3, 6], -2, 1)
    assert data["roles"] == ["differentiated", "chain", "truncated", "forward", "unused"]
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
    with pytest.raises(ConfigError, match=r"T \(--steps\) must be an integer from 1 to 16 for the page"):
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


def check_shown(driver, network, steps, wrt, truncate=None, analysis=None):
    """The picture's chips and the list's rows are exactly the analysis's copies and roles."""
    if analysis is None:
        table = copy_table(network, steps, wrt, truncate=truncate)
    else:
        table = analysis.table(wrt, truncate=truncate)
    chips, rows = driver.execute_script(SHOWN)
    expected = {c.copy: (c.role, c.zero) for c in table.copies}
    assert {name: (role, zero) for name, role, zero, *_ in chips} == expected
    assert all(fill == COLOURS[role][0] for _, role, _, fill, *_ in chips)
    # the page draws the Python layout: every chip where pictures.layout puts it
    assert {name: (x, y) for name, *_, x, y in chips} == {c[0]: (c[1], c[2]) for c in layout(network, steps).chips}
    assert [(name, role, zero) for name, role, zero, _ in rows] == [(c.copy, c.role, c.zero) for c in table.copies]
    labels = {"differentiated": "differentiated", "chain": "on the chain", "truncated": "truncated",
              "forward": "forward only", "unused": "unused"}
    assert all(text == labels[role] for _, role, _, text in rows)
    assert driver.find_element("id", "steps-value").text == str(steps)
    assert driver.find_element("id", "truncate-value").text == ("∞ (off)" if truncate is None else str(truncate))
    assert driver.execute_script("return document.body.dataset.truncate") == str(truncate or "off")
    return table


LEGEND = """return Array.from(document.querySelectorAll("#picture svg > text")).map((t) => t.textContent);"""


def test_truncation_slider_in_chromium(browser, page):
    """The second slider: off (K = ∞) by default; each K highlights the truncated
    copies of symrnn copies --truncate K, in their own colour, with a legend entry."""
    from selenium.webdriver.common.keys import Keys

    browser.get(page.as_uri())
    window, steps = browser.find_element("id", "truncate"), browser.find_element("id", "steps")
    assert (window.get_attribute("min"), window.get_attribute("max"), window.get_attribute("value")) == ("1", "17", "17")
    check_shown(browser, symrnn.network("rnn"), 3, "w_x")
    assert "truncated" not in browser.execute_script(LEGEND)
    steps.send_keys(Keys.RIGHT, Keys.RIGHT, Keys.RIGHT)
    window.send_keys(Keys.HOME, Keys.RIGHT)  # K = 2 at T = 6: the example
    table = check_shown(browser, symrnn.network("rnn"), 6, "w_x", truncate=2)
    chips = {name: (role, fill) for name, role, _, fill, *_ in browser.execute_script(SHOWN)[0]}
    assert [chips[f"w_x_{t}"] for t in range(1, 7)] == [("truncated", COLOURS["truncated"][0])] * 4 + [
        ("differentiated", COLOURS["differentiated"][0])] * 2
    assert chips["w_a_6"][0] == "chain" and table.counts()["truncated"] == 8
    assert "truncated" in browser.execute_script(LEGEND)
    assert browser.find_element("id", "picture-title").text.endswith("BPTT truncated to K = 2")
    assert browser.find_element("id", "summary").text.startswith(
        "∂C/∂θ truncated to K = 2 sums 2 copy terms (0 of them exactly 0); copies: 2 differentiated, "
        "2 on the chain, 8 truncated, 8 forward only, 0 unused.")
    for k in (1, 3, 5, 6):  # every window at T = 6, and K >= T: the full table
        window.send_keys(Keys.HOME, *[Keys.RIGHT] * (k - 1))
        check_shown(browser, symrnn.network("rnn"), 6, "w_x", truncate=k)
    browser.find_element("id", "sequence").click()
    window.send_keys(Keys.HOME)
    table = check_shown(browser, symrnn.network("rnn", output="sequence"), 6, "w_x", truncate=1)
    assert [c.role for c in table.copies if c.param == "w_a"] == ["forward"] + ["truncated"] * 5
    window.send_keys(Keys.END)
    check_shown(browser, symrnn.network("rnn", output="sequence"), 6, "w_x")
    assert "truncated" not in browser.execute_script(LEGEND)


@pytest.mark.parametrize("cell,variant", [("lstm", None), ("gru", "notes")])
def test_truncation_slider_on_every_network_of_a_cell(browser, page, cell, variant):
    """Both layer counts, both output modes, a short and the longest T, several K, a
    parameter of the first layer's input, of the recurrence and of the output layer."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(page.as_uri())
    Select(browser.find_element("id", "cell")).select_by_value(cell)
    for layers in (1, 2):
        Select(browser.find_element("id", "layers")).select_by_value(str(layers))
        for output in ("last", "sequence"):
            if browser.find_element("id", "sequence").is_selected() != (output == "sequence"):
                browser.find_element("id", "sequence").click()
            for steps, windows in ((4, (1, 2, 3)), (16, (1, 6))):
                browser.find_element("id", "steps").send_keys(Keys.HOME, *[Keys.RIGHT] * (steps - 1))
                network = symrnn.network(cell, variant=variant, layers=layers, output=output)
                analysis = CopyAnalysis(network, steps)
                params = [o.get_attribute("value") for o in Select(browser.find_element("id", "param")).options]
                for k in windows:
                    browser.find_element("id", "truncate").send_keys(Keys.HOME, *[Keys.RIGHT] * (k - 1))
                    for wrt in (params[:2] + params[-1:] if steps == 4 else params[:1] + params[-1:]):
                        Select(browser.find_element("id", "param")).select_by_value(wrt)
                        check_shown(browser, network, steps, wrt, truncate=k, analysis=analysis)
            browser.find_element("id", "truncate").send_keys(Keys.END)


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


MAGNITUDES = """
const chip = (g) => [g.dataset.copy, g.querySelector("rect").getAttribute("fill"), g.dataset.norm];
const row = (r) => [r.dataset.copy, r.querySelector(".swatch span").style.background, r.querySelector(".norm").textContent];
return [Array.from(document.querySelectorAll("#picture g.chip")).map(chip),
        Array.from(document.querySelectorAll("#copies tbody tr")).map(row),
        document.querySelector("#picture .bar-low").textContent, document.querySelector("#picture .bar-high").textContent,
        Array.from(document.querySelectorAll("#picture rect.bar")).map((r) => r.getAttribute("fill"))];
"""


def rgb(hex_colour):
    return "rgb({}, {}, {})".format(*(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)))


def check_magnitudes(driver, network, steps, truncate=None):
    """With the toggle on, θ's differentiated copies are filled with the colour of their
    term's norm in the (truncated) gradient (symrnn.flow.term_norms at the page's seed) on
    the log scale of every norm of the configuration; every other copy pale, with no size."""
    wrt = network.layer_params(1)[0][1]  # the page's θ
    table = copy_table(network, steps, wrt, truncate=truncate)
    windowed = truncate is not None and truncate < steps and network.output == "sequence"
    terms, _ = term_norms(network, steps, seed=0, truncate=truncate if windowed else None)
    norms = [float(f"{terms[c.param][c.step - 1]:.3g}") for c in table.copies]
    every = [float(f"{v:.3g}") for k in [None, *range(1, steps)] if network.output == "sequence" or k is None
             for name, values in term_norms(network, steps, seed=0, truncate=k)[0].items() for v in values]
    bins, low, high = magnitude_bins(norms, span=every)
    expected = {c.copy: (MAGNITUDE_OTHER[0], "") if c.role != "differentiated" else
                (MAGNITUDE_ZERO if b is None else MAGNITUDE_COLOURS[b], str(v))
                for c, b, v in zip(table.copies, bins, norms)}
    chips, rows, bar_low, bar_high, bar = driver.execute_script(MAGNITUDES)
    assert {name: (fill, float(norm) if norm else None) for name, fill, norm in chips} == {
        name: (fill, float(text) if text else None) for name, (fill, text) in expected.items()}
    assert [(name, colour) for name, colour, _ in rows] == [(c.copy, rgb(expected[c.copy][0])) for c in table.copies]
    assert [float(text) if text else None for *_, text in rows] == [
        v if c.role == "differentiated" else None for c, v in zip(table.copies, norms)]
    assert (bar_low, bar_high, bar) == (f"10{low}", f"10{high}", list(MAGNITUDE_COLOURS))
    assert driver.execute_script("return document.body.dataset.colouring") == "magnitude"
    return dict(zip([c.copy for c in table.copies], norms)), {k: fill for k, (fill, _) in expected.items()}


def test_magnitude_toggle_in_chromium(browser, page):
    """The toggle colours copies by ‖term‖ (log scale, colour bar); off, by role again."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(page.as_uri())
    toggle = browser.find_element("id", "magnitudes")
    assert not toggle.is_selected()
    assert browser.execute_script("return document.body.dataset.colouring") == "role"
    toggle.click()
    norms, colours = check_magnitudes(browser, symrnn.network("rnn"), 3)
    assert norms["w_a_1"] == 0 and colours["w_a_1"] == MAGNITUDE_OTHER[0]  # forward only: not in dC/dw^(x)
    assert colours["w_a_2"] == colours["b_a_1"] == MAGNITUDE_OTHER[0]  # on the chain, forward only: no size
    # the vanilla RNN at the seeded weights: the terms of w^(x) shrink towards step 1
    assert norms["w_x_1"] < norms["w_x_2"] < norms["w_x_3"]
    browser.find_element("id", "steps").send_keys(Keys.END)
    norms, colours = check_magnitudes(browser, symrnn.network("rnn"), 16)
    assert colours["w_x_1"] != colours["w_x_16"]
    browser.find_element("id", "sequence").click()
    Select(browser.find_element("id", "cell")).select_by_value("lstm")
    Select(browser.find_element("id", "layers")).select_by_value("2")
    check_magnitudes(browser, symrnn.network("lstm", layers=2, output="sequence"), 16)
    browser.find_element("id", "truncate").send_keys(Keys.HOME, Keys.RIGHT)  # the sizes follow the window
    check_magnitudes(browser, symrnn.network("lstm", layers=2, output="sequence"), 16, truncate=2)
    browser.find_element("id", "sequence").click()  # one output: a window keeps its copies' full terms
    check_magnitudes(browser, symrnn.network("lstm", layers=2), 16, truncate=2)
    browser.find_element("id", "sequence").click()
    Select(browser.find_element("id", "cell")).select_by_value("gru")
    browser.find_element("id", "steps").send_keys(Keys.HOME, Keys.RIGHT, Keys.RIGHT, Keys.RIGHT)
    check_magnitudes(browser, symrnn.network("gru", variant="notes", layers=2, output="sequence"), 4, truncate=2)
    toggle.click()
    assert browser.execute_script("return document.body.dataset.colouring") == "role"
    check_shown(browser, symrnn.network("gru", variant="notes", layers=2, output="sequence"), 4, "w_z_l1",
                truncate=2)


TITLE_AND_LEGEND = """
const svg = document.querySelector("#picture svg");
const texts = Array.from(svg.querySelectorAll(":scope > text"));
const boxes = texts.filter((t) => t.getAttribute("y") > svg.querySelector(".bar, rect[rx='3']").getAttribute("y") - 5)
                   .map((t) => { const b = t.getBBox(); return [t.textContent, b.x, b.y, b.x + b.width, b.y + b.height]; });
return [document.getElementById("picture-title").textContent, Number(svg.getAttribute("width")),
        boxes, document.getElementById("scroll-note").textContent];
"""


def overlapping(boxes):
    return [(a[0], b[0]) for k, a in enumerate(boxes) for b in boxes[k + 1:]
            if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]]


def test_titles_legends_and_scrolling_in_chromium(browser, page):
    """The picture's title is pictures.svg's (∂C/∂w with the superscript as a tspan); no legend
    text overlaps another or runs past the picture; a picture wider than its box says which steps show."""
    import xml.etree.ElementTree as ET

    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from symrnn.pictures import svg

    browser.get(page.as_uri())
    for magnitudes in (False, True):
        if browser.find_element("id", "magnitudes").is_selected() != magnitudes:
            browser.find_element("id", "magnitudes").click()
        for steps, truncate in ((3, None), (6, 2), (16, None)):
            browser.find_element("id", "steps").send_keys(Keys.HOME, *[Keys.RIGHT] * (steps - 1))
            window = browser.find_element("id", "truncate")
            window.send_keys(Keys.END) if truncate is None else window.send_keys(Keys.HOME, *[Keys.RIGHT] * (truncate - 1))
            title, width, boxes, note = browser.execute_script(TITLE_AND_LEGEND)
            picture = svg(copy_table(symrnn.network("rnn"), steps, "w_x", truncate=truncate))
            expected = next(ET.fromstring(picture).iter("{http://www.w3.org/2000/svg}text"))
            assert title == "".join(expected.itertext()) and title.startswith("∂C/∂w(x) for rnn")
            assert not overlapping(boxes), boxes
            assert all(right <= width for _, _, _, right, _ in boxes)
            assert (note != "") == (steps == 16), note
    assert note.startswith("Showing t = 1 … ") and note.endswith("of 16 steps: scroll the picture sideways for the rest ⇆")
    browser.execute_script('document.getElementById("picture").scrollLeft = 100000')
    # the note follows the scroll event, which the browser fires after the scroll, not within it
    note = ""
    for _ in range(50):
        note = browser.execute_script('return document.getElementById("scroll-note").textContent')
        if "… 16 of 16" in note:
            break
        time.sleep(0.1)
    assert "… 16 of 16" in note
    Select(browser.find_element("id", "cell")).select_by_value("lstm")
    Select(browser.find_element("id", "layers")).select_by_value("2")
    assert browser.find_element("id", "question-derivative").text.replace("\n", "") == "∂C/∂w(f)[1]"
