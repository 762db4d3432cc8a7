"""What a person sees, checked in the browser on any studio page (call it from any browser test).

:func:`page_problems` returns, for the part of the page under a locator (or the whole
page), every problem a reviewer would point at:

* a label, button, cell or dropdown whose text is cut off (its text is wider than its
  box: ``scrollWidth > clientWidth`` where the box hides the overflow, or a dropdown
  whose chosen option is wider than the dropdown);
* a number shown with more than :data:`MAX_DIGITS` significant digits, or a large one in
  exponent form such as ``1e+06`` (code boxes, inputs and charts aside);
* a dropdown wider than its box, so it overlaps the control beside it;
* a dropdown left blank when it has exactly one option;
* an old-style multi-select list box (ipywidgets ``SelectMultiple``): the studio picks several
  values as tags (``TagsField``) or toggle buttons (``ToggleSet``).

:func:`check_page` asserts there are none and saves a screenshot; :func:`visit_tabs`
opens each tab of a page in turn so hidden tabs are checked too. Example::

    from tests.browser.page_checks import check_page, visit_tabs
    for name in visit_tabs(page, root):
        check_page(page, root, f"models-{name}")
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_DIGITS = 6
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

_JS = r"""
(root) => {
  root = root || document.body;
  const problems = [];
  const visible = (el) => {
    if (!el.getClientRects().length) return false;
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none';
  };
  const describe = (el) => {
    const text = (el.innerText || el.value || '').trim().replace(/\s+/g, ' ').slice(0, 60);
    const cls = (el.className && el.className.baseVal === undefined ? el.className : '').toString()
      .split(/\s+/).filter(Boolean).slice(0, 3).join('.');
    return `${el.tagName.toLowerCase()}${cls ? '.' + cls : ''} "${text}"`;
  };
  const skip = (el) => el.closest('pre, code, textarea, .js-plotly-plot, .CodeMirror, .cm-editor');
  // 0. Old-style multi-select list boxes (SelectMultiple), shown or hidden on the page.
  for (const el of root.querySelectorAll('.widget-select-multiple, select[multiple]')) {
    problems.push(`multi-select list box (use tags or toggle buttons): ${describe(el)}`);
  }
  // 1. Cut-off text: leaf text elements whose text is wider than their box.
  const canvas = document.createElement('canvas').getContext('2d');
  for (const el of root.querySelectorAll('*')) {
    if (skip(el) || !visible(el)) continue;
    if (el.tagName === 'SELECT') {
      const option = el.options[el.selectedIndex];
      const real = Array.from(el.options).filter(o => o.text.trim() !== '');
      // A list box (a file browser, size > 1) shows its options without a choice: not a dropdown.
      if (!el.multiple && el.size <= 1 && real.length === 1 && (!option || option.text.trim() === '')) {
        problems.push(`blank dropdown with one option: ${describe(el.closest('.widget-dropdown') || el)} (${real[0].text})`);
      }
      const box = el.closest('.widget-dropdown');
      if (box && el.getBoundingClientRect().right > box.getBoundingClientRect().right + 1) {
        problems.push(`dropdown wider than its box (it overlaps what follows): ${describe(box)}`);
      }
      if (option && option.text.trim()) {
        const style = getComputedStyle(el);
        canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const need = canvas.measureText(option.text).width;
        // padding-right holds the arrow (ipywidgets gives it 20px); without one, leave the arrow 16px
        const room = el.clientWidth - parseFloat(style.paddingLeft) - Math.max(parseFloat(style.paddingRight), 16);
        if (need > room + 1) {
          problems.push(`cut-off dropdown: ${describe(el.closest('.widget-dropdown') || el)} `
            + `shows "${option.text}" in ${Math.round(room)}px, needs ${Math.round(need)}px`);
        }
      }
      continue;
    }
    const ownText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!ownText) continue;
    const style = getComputedStyle(el);
    const hides = style.overflowX !== 'visible' || style.textOverflow === 'ellipsis';
    if (hides && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      problems.push(`cut-off text: ${describe(el)} (${el.scrollWidth}px of text in ${el.clientWidth}px)`);
    }
  }
  // 2. Numbers with too many significant digits, in the text a person reads.
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || skip(parent) || !visible(parent)) continue;
    if (parent.closest('style, script, input, select, option')) continue;
    texts.push(node.textContent);
  }
  return {problems, texts};
}
"""

# A decimal or exponent number not part of a dotted version, an address or a longer word.
_NUMBER = re.compile(r"(?<![\w.:/-])-?(\d[\d,]*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.:/])")


def significant_digits(number: str) -> int:
    """Significant digits of a shown number: ``0.04464`` has 4, ``12,350.5`` has 6."""
    mantissa = re.split(r"[eE]", number.lstrip("-"))[0].replace(",", "")
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits)


def long_numbers(text: str, limit: int = MAX_DIGITS) -> list[str]:
    """Numbers in ``text`` with more than ``limit`` significant digits, or in exponent form above 1 (an ID)."""
    return [m.group(0) for m in _NUMBER.finditer(text)
            if significant_digits(m.group(1)) > limit or re.search(r"[eE]\+?0*[1-9]", m.group(1))]


def page_problems(page: Any, root: Any = None) -> list[str]:
    """Every cut-off label, long number and blank single-option dropdown under ``root``."""
    handle = root.element_handle() if root is not None else None
    result = page.evaluate(_JS, handle)
    problems = list(dict.fromkeys(result["problems"]))
    for text in result["texts"]:
        for number in long_numbers(text):
            problems.append(f"number with more than {MAX_DIGITS} significant digits: {number!r} in {text.strip()[:80]!r}")
    return problems


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def check_page(page: Any, root: Any = None, name: str | None = None) -> list[str]:
    """Save a screenshot (when ``name`` is given), then assert :func:`page_problems` finds nothing."""
    if name:
        screenshot(page, name)
    problems = page_problems(page, root)
    assert not problems, f"{name or 'page'}: " + "\n".join(problems)
    return problems


def visit_tabs(page: Any, root: Any, settle_ms: int = 400) -> Iterator[str]:
    """Open each top-level ipywidgets tab under ``root`` in turn; yields the tab's title ("" if none)."""
    tabs = root.locator(".lm-TabBar-tab, .p-TabBar-tab")
    visible = [tabs.nth(index) for index in range(tabs.count()) if tabs.nth(index).is_visible()]
    if not visible:  # no tabs, or only hidden ones (a page showing its empty state): the page itself
        page.wait_for_timeout(settle_ms)
        yield ""
        return
    for tab in visible:
        if not tab.is_visible():  # a nested tab bar hidden by the top-level tab just opened
            continue
        title = tab.inner_text().strip()
        tab.click()
        page.wait_for_timeout(settle_ms)
        yield title
