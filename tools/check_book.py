"""Open every page of the built book in headless Chromium and fail on what its reader would meet broken.

    python tools/check_book.py [_build/html] [--width 1400] [--screenshots DIR] [--skip KIND ...]

The browser is Debian's ``chromium`` with ``chromium-driver`` (``make browser`` installs both); nothing is
downloaded. Each page is opened from disk with no network, after MathJax has typeset it and its images have
loaded, at a window ``--width`` pixels wide. A page fails, naming the element, on:

* ``console``   an error in the browser console (a script error, a resource that did not load);
* ``image``     an image that did not load;
* ``alt``       an image whose alt text is empty or its file's hash (what myst-nb writes when a cell gives none);
* ``tex``       raw TeX left in the visible text outside code: ``$...$``, ``\\frac``, ``\\(``, ...;
* ``table``     a table wider than the content column, unless it sits in its own horizontally scrolling box that
  fits the column;
* ``equation``  a display equation wider than the content column (a scroll box does not excuse an equation);
* ``output``    a cell's text output with a line wider than its box, cut at the column's edge.

Exit status: 0 when every page is clean, 1 when any finding, 2 when the book or the browser is missing.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: no network, no first-run work, no background services: the page, and only the page, is what is measured
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]
KINDS = ("console", "image", "alt", "tex", "table", "equation", "output")
#: seconds a page may take to typeset its mathematics and load its images
PAGE_TIMEOUT_S = 30

# Runs in the page (execute_async_script): waits for MathJax and the images, then measures. Returns findings as
# {kind, element, detail, section}.
PAGE_SCRIPT = r"""
const done = arguments[arguments.length - 1];
const timeoutMs = arguments[0];
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  for (const img of document.images) { img.loading = "eager"; img.decoding = "sync"; }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && [...document.images].some(i => !i.complete)) await sleep(100);
  await sleep(300);   // let late layout (a resize after typesetting) settle

  const out = [];
  const col = document.querySelector("article.bd-article") || document.querySelector("[role=main]")
    || document.querySelector("main") || document.body;
  const cs = getComputedStyle(col);
  const colWidth = col.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const colRight = col.getBoundingClientRect().left + col.clientWidth - parseFloat(cs.paddingRight);

  const visible = el => !!(el && el.getClientRects().length) && getComputedStyle(el).visibility !== "hidden";
  const text = (el, n) => (el.innerText || el.textContent || "").replace(/\s+/g, " ").trim().slice(0, n || 70);
  const section = el => {
    const heads = [...document.querySelectorAll("h1, h2, h3")];
    let last = null;
    for (const h of heads) {
      if (h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) last = h; else break;
    }
    return last ? text(last, 60).replace(/#$/, "") : "";
  };
  const describe = el => {
    let d = el.tagName.toLowerCase();
    if (el.id) d += "#" + el.id;
    const cls = [...el.classList].slice(0, 2);
    if (cls.length) d += "." + cls.join(".");
    return d;
  };
  const add = (kind, el, detail) => out.push({kind, element: describe(el), detail, section: section(el)});
  const scrollBox = (el, stop) => {
    for (let a = el.parentElement; a && a !== stop && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll") return a;
    }
    return null;
  };

  // images
  for (const img of document.images) {
    const name = (img.getAttribute("src") || "").split("/").pop();
    if (!img.complete || img.naturalWidth === 0) add("image", img, `did not load: ${name}`);
    const alt = (img.getAttribute("alt") || "").trim();
    const altName = alt.split("/").pop();
    if (!alt || /^[0-9a-f]{32,}(\.[a-z0-9]+)?$/i.test(altName) || altName === name)
      add("alt", img, `no alt text (alt="${alt.slice(0, 20)}") on ${name.slice(0, 20)}`);
  }

  // tables: wider than the column, unless inside their own scroll box that fits the column
  for (const t of document.querySelectorAll("table")) {
    if (!visible(t)) continue;
    const w = Math.max(t.scrollWidth, t.getBoundingClientRect().width);
    const box = scrollBox(t, col);
    const cap = t.querySelector("caption") || (t.closest("figure") || {}).querySelector?.("figcaption");
    const name = cap ? text(cap, 60) : text(t.querySelector("tr") || t, 60);
    if (box) {
      const bw = box.getBoundingClientRect();
      if (bw.width > colWidth + 1 || bw.right > colRight + 1)
        add("table", t, `its scroll box is ${Math.round(bw.width)} px wide, column ${Math.round(colWidth)} px: "${name}"`);
    } else if (w > colWidth + 1 || t.getBoundingClientRect().right > colRight + 1) {
      add("table", t, `${Math.round(w)} px wide, column ${Math.round(colWidth)} px: "${name}"`);
    }
  }

  // display equations: must fit, a scroll box does not excuse them
  const tex = el => {
    try {
      const items = MathJax.startup.document.getMathItemsWithin(el);
      if (items.length) return items[0].math.replace(/\s+/g, " ").trim().slice(0, 70);
    } catch (e) {}
    return text(el, 70);
  };
  for (const m of document.querySelectorAll('mjx-container[display="true"], mjx-container[jax][display="true"]')) {
    if (!visible(m)) continue;
    const inner = m.firstElementChild || m;
    const r = inner.getBoundingClientRect();
    const w = Math.max(r.width, inner.scrollWidth || 0);
    if (w > colWidth + 1 || r.right > colRight + 1)
      add("equation", m, `${Math.round(w)} px wide, column ${Math.round(colWidth)} px: ${tex(m)}`);
  }

  // text outputs of cells: a line wider than its box is cut at the column's edge
  for (const p of document.querySelectorAll(".cell_output pre, div.output pre")) {
    if (!visible(p)) continue;
    if (p.scrollWidth > p.clientWidth + 1 || p.getBoundingClientRect().right > colRight + 1) {
      const longest = (p.textContent || "").split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
      add("output", p, `a line of ${longest.length} characters overflows ${p.clientWidth} px: "${longest.slice(0, 60)}..."`);
    }
  }

  // raw TeX in visible text outside code
  const skip = "script, style, code, pre, kbd, samp, textarea, mjx-container, .highlight, mjx-assistive-mml";
  const patterns = [
    [/(^|[^\\$\w])\$[^$\s](?:[^$]{0,200}?[^$\s\\])?\$(?![\w$])/, "$...$"],
    [/\$\$/, "$$"],
    [/\\(?:frac|dfrac|mathrm|mathbb|mathcal|mathbf|operatorname|sum|prod|int|sqrt|alpha|beta|gamma|delta|sigma|varepsilon|epsilon|lambda|mu|lVert|rVert|left|right|begin|end|hat|tilde|bar|cdot|times|leq?|geq?|infty|partial|nabla|text|underbrace|boxed|SNR)(?![a-zA-Z])/, "a TeX command"],
    [/\\[()\[\]]/, "\\( or \\["],
  ];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || !visible(el)) continue;
    const s = n.textContent;
    for (const [re, what] of patterns) {
      const hit = s.match(re);
      if (hit && !seen.has(el)) {
        seen.add(el);
        const i = Math.max(0, hit.index - 20);
        add("tex", el, `${what} in "${s.slice(i, i + 70).replace(/\s+/g, " ")}"`);
      }
    }
  }
  return out;
})().then(done, e => done([{kind: "console", element: "check script", detail: String(e), section: ""}]));
"""


@dataclass
class Finding:
    page: str
    kind: str
    element: str
    detail: str
    section: str = ""

    def __str__(self) -> str:
        where = f" (in '{self.section}')" if self.section else ""
        return f"{self.page}: {self.kind}: {self.element}{where}: {self.detail}"


def browser_missing() -> str | None:
    """Why the browser cannot start, or None. The fix is the project's own install step, never a download."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        return f"{' and '.join(missing)} not found: run `make browser` (apt-get install chromium chromium-driver)."
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -r requirements.txt."
    return None


def start_browser(width: int = 1400, height: int = 1000):
    """Headless Chromium with a fresh profile, console logging on. -> (driver, profile dir to remove)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    why = browser_missing()
    if why:
        raise FileNotFoundError(why)
    profile = tempfile.mkdtemp(prefix="check_book_profile_")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(PAGE_TIMEOUT_S + 10)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    return driver, profile


def check_page(driver, path: Path, name: str | None = None, screenshot: Path | None = None) -> list[Finding]:
    """Findings on one HTML file opened in ``driver`` (console errors, images, raw TeX, over-wide elements)."""
    name = name or path.name
    driver.get_log("browser")            # drop what an earlier page left in the log
    driver.get(path.resolve().as_uri())
    raw = driver.execute_async_script(PAGE_SCRIPT, PAGE_TIMEOUT_S * 1000)
    found = [Finding(name, r["kind"], r["element"], r["detail"], r.get("section", "")) for r in raw]
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            found.append(Finding(name, "console", entry.get("source", "console"), entry.get("message", "")[:300]))
    if screenshot is not None:
        _full_page_screenshot(driver, screenshot)
    return found


def _full_page_screenshot(driver, out: Path) -> None:
    """The whole page as the reader scrolls through it: the viewport stretched to the page's height for the shot
    (Page.captureScreenshot's captureBeyondViewport shifts the sticky sidebars and crops the left of the page)."""
    import base64

    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))


def book_pages(html_dir: Path) -> list[Path]:
    """Every built page: the HTML files of the book, not the theme's or the sources' folders."""
    return sorted(p for p in html_dir.rglob("*.html") if not {"_static", "_sources", "_images"} & set(p.parts))


def check_book(html_dir: Path, width: int = 1400, screenshots: Path | None = None,
               skip: tuple[str, ...] = ()) -> list[Finding]:
    """Findings on every page of ``html_dir`` (a jupyter-book ``_build/html``), pages in name order."""
    pages = book_pages(html_dir)
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {html_dir}: build the book first (make book).")
    driver, profile = start_browser(width)
    try:
        found = []
        for page in pages:
            rel = page.relative_to(html_dir).as_posix()
            shot = screenshots / (rel.replace("/", "__").removesuffix(".html") + ".png") if screenshots else None
            found += [f for f in check_page(driver, page, rel, shot) if f.kind not in skip]
        return found
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("html_dir", nargs="?", default="_build/html", type=Path)
    ap.add_argument("--width", type=int, default=1400, help="browser window width in px (default 1400)")
    ap.add_argument("--screenshots", type=Path, help="write a full-page PNG of every page into this folder")
    ap.add_argument("--skip", nargs="*", default=[], choices=KINDS, help="kinds of finding to leave out")
    args = ap.parse_args(argv)
    try:
        found = check_book(args.html_dir, args.width, args.screenshots, tuple(args.skip))
    except FileNotFoundError as exc:
        print(f"check_book: {exc}", file=sys.stderr)
        return 2
    pages = book_pages(args.html_dir)
    for f in found:
        print(f)
    bad = sorted({f.page for f in found})
    print(f"check_book: {len(pages)} pages, {len(pages) - len(bad)} clean, {len(found)} findings"
          + (f" on {len(bad)} pages" if bad else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
