"""Content (issue 7): the reading list is complete and well-formed, prose exists for every method,
and Markdown is rendered safely (raw HTML off, only http(s) / relative / #fragment links)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cnnatlas.content import (
    KINDS,
    LANGUAGES,
    SHIPPED,
    STATUSES,
    load_prose,
    load_reading,
    page_url,
    reading_file,
    render_markdown,
)
from cnnatlas.content.markdown import inline_text
from cnnatlas.content.texmath import MATHML_TAGS
from cnnatlas.errors import ContentError
from cnnatlas.probes import PROBES

ROOT = Path(__file__).resolve().parent.parent
READING = ROOT / "content" / "reading.toml"
CONCEPTS = ("convolution", "relu", "pooling", "softmax", "receptive-field")
FAMILIES = ("attribution", "feature-visualization", "embeddings")  # one page per family


@pytest.fixture(scope="module")
def reading():
    return load_reading(READING)


def test_every_entry_has_the_required_fields_and_a_well_formed_link(reading):
    assert len(reading.entries) >= 40
    ids = [e.id for e in reading.entries]
    assert len(ids) == len(set(ids))
    topics = {t.slug for t in reading.topics}
    for e in reading.entries:
        parts = urlsplit(e.url)
        assert parts.scheme in ("http", "https") and "." in parts.netloc, e.id
        assert not re.search(r"\s", e.url), e.id
        assert e.topic in topics and e.title.strip() and e.kind in KINDS, e.id
        assert e.language in LANGUAGES and e.status in STATUSES, e.id
        assert len(e.note) >= 80 and e.note.count(". ") >= 1, f"{e.id}: two sentences expected"
        assert e.pages, e.id
        if e.language != "en":  # original title kept, English translation given
            assert e.title_en and not e.title.isascii(), e.id
        for ident, link in e.id_links:
            assert link == "" or urlsplit(link).scheme == "https", ident
    # every topic is used, and dead services are marked (the CloudCV Grad-CAM demo is offline)
    assert topics == {e.topic for e in reading.entries}
    assert any(e.status == "dead" for e in reading.entries)


def test_every_method_has_a_reading_entry_and_a_prose_page(reading):
    by_page = reading.by_page()
    methods = load_prose("methods")
    for name in PROBES:
        assert by_page.get(f"methods/{name}/index.html"), f"no reading entry shows methods/{name}/"
        assert name in methods, f"content/pages/methods/{name}.md is missing"
        assert len(methods[name].text.split()) > 150, name


def test_concept_pages_cover_the_stages_and_every_family():
    concepts = load_prose("concepts")
    for slug in CONCEPTS + FAMILIES:
        assert slug in concepts and concepts[slug].title, slug
        assert concepts[slug].summary.endswith((".", "?", "!")), slug


def test_page_slugs_become_explicit_index_urls(reading):
    assert page_url("methods/gradcam/") == "methods/gradcam/index.html"
    assert page_url("index.html") == "index.html"
    for e in reading.entries:
        assert all(u.endswith(".html") and not u.startswith("/") for u in e.page_urls), e.id


def test_shipped_reading_list_is_the_fallback(tmp_path):
    assert reading_file(tmp_path) == SHIPPED / "reading.toml"
    (tmp_path / "reading.toml").write_text("")
    assert reading_file(tmp_path) == tmp_path / "reading.toml"


GOOD = """
[[topics]]
slug = "t"
title = "T"
intro = "About t."

[[entries]]
id = "ok"
topic = "t"
title = "A paper"
authors = ["A. Author"]
year = 2017
url = "https://arxiv.org/abs/1610.02391"
ids = ["arXiv:1610.02391"]
kind = "paper"
language = "en"
status = "live"
note = "It does one thing. It matters here."
pages = ["methods/gradcam/", "index.html"]
"""
ENTRY = GOOD[GOOD.index("[[entries]]") :]


def test_loader_accepts_a_valid_file(tmp_path):
    f = tmp_path / "reading.toml"
    f.write_text(GOOD)
    r = load_reading(f)
    assert [e.id for e in r.entries] == ["ok"]
    assert r.entries[0].id_links == (("arXiv:1610.02391", "https://arxiv.org/abs/1610.02391"),)
    assert r.by_page()["methods/gradcam/index.html"][0].id == "ok"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('id = "ok"', 'id = "Not OK"'), r"entry 'Not OK': id: expected a lowercase slug"),
        (('topic = "t"\ntitle = "A', 'topic = "nope"\ntitle = "A'), r"topic: unknown topic 'nope'"),
        (
            ("https://arxiv.org/abs/1610.02391", "javascript:alert(1)"),
            r"url: expected an http\(s\) URL",
        ),
        (('kind = "paper"', 'kind = "blog"'), r"kind: expected one of paper, tool"),
        (('language = "en"', 'language = "zh"'), r"title_en: required for a non-English title"),
        (('status = "live"', 'status = "gone"'), r"status: expected one of live, dead, unknown"),
        (("year = 2017", 'year = "2017"'), r"year: expected a year"),
        (('note = "It does one thing. It matters here."\n', ""), r"note: missing \(required\)"),
        (
            ('pages = ["methods/gradcam/", "index.html"]', 'pages = ["/abs/"]'),
            r"pages: expected site-relative",
        ),
        (('ids = ["arXiv:1610.02391"]', 'ids = ["arxiv 1610"]'), r"ids: expected e.g."),
        (("year = 2017", "year = 2017\npublisher = 'x'"), r"publisher: unknown field"),
    ],
)
def test_loader_names_file_line_entry_and_field(tmp_path, change, message):
    f = tmp_path / "reading.toml"
    assert change[0] in GOOD
    f.write_text(GOOD.replace(change[0], change[1]))
    with pytest.raises(ContentError, match=message) as info:
        load_reading(f)
    assert f"{f}:7: entry" in str(info.value)  # the line of its [[entries]] header


def test_loader_reports_every_problem_at_once(tmp_path):
    f = tmp_path / "reading.toml"
    twice = GOOD + "\n" + ENTRY.replace('kind = "paper"', 'kind = "?"')
    f.write_text(twice)
    with pytest.raises(ContentError, match=r"2 problem\(s\)") as info:
        load_reading(f)
    assert "id: duplicate" in str(info.value) and "kind: expected one of" in str(info.value)


def test_loader_warns_about_duplicate_urls(tmp_path):
    f = tmp_path / "reading.toml"
    f.write_text(GOOD + "\n" + ENTRY.replace('id = "ok"', 'id = "again"'))
    warnings: list[str] = []
    load_reading(f, warnings.append)
    assert len(warnings) == 1 and "'again' has the same url as 'ok'" in warnings[0]


def test_markdown_escapes_raw_html_and_drops_unsafe_links():
    html = str(
        render_markdown(
            "# Title\n\n<script>alert(1)</script> <b>bold</b>\n\n"
            "[js](javascript:alert(1)) [JS](JAVASCRIPT:alert(1)) [data](data:text/html,x) "
            "[mail](mailto:a@b.c) [web](https://example.org/a) [rel](../relu/index.html) "
            "[frag](#shapes) ![img](https://example.org/x.png) <javascript:alert(2)>",
            "concepts/convolution/index.html",
        )
    )
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;" in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://example.org/a", "../relu/index.html", "#shapes"]
    assert "<img" not in html  # external image -> its alt text
    assert "<h1" not in html  # the page has its own h1


def test_markdown_unlinks_pages_the_build_lacks():
    known = {"concepts/relu/index.html", "methods/gradcam/index.html"}
    html = str(
        render_markdown(
            "[relu](../relu/index.html), [cam](../../methods/cam/index.html) and "
            "[gc](../../methods/gradcam/index.html#colours)",
            "concepts/convolution/index.html",
            known,
        )
    )
    assert (
        'href="../relu/index.html"' in html
        and 'href="../../methods/gradcam/index.html#colours"' in html
    )
    assert "cam/index.html" not in html.replace("gradcam/index.html", "") and " cam " in html


def test_shipped_prose_links_are_relative_or_http():
    for section in ("concepts", "methods"):
        for prose in load_prose(section).values():
            for target in re.findall(r"\]\(([^)\s]+)", prose.text):
                parts = urlsplit(target)
                assert parts.scheme in ("", "http", "https"), f"{prose.path}: {target}"
                if not parts.scheme:  # explicit index.html links, or a fragment on this page
                    ok = target.endswith(("index.html", ".png")) or target.startswith("#")
                    assert ok and not target.startswith("/"), f"{prose.path}: {target}"


def test_tex_between_dollars_is_typeset_as_mathml():
    html = str(render_markdown("Score $z_c$ costs $5 and $10.\n\n$$\n\\frac{1}{n} \\sum_i x_i\n$$"))
    inline = re.search(r'<span class="math inline"><math display="inline">(.*?)</math>', html)
    assert inline and inline.group(1) == "<mrow><msub><mi>z</mi><mi>c</mi></msub></mrow>"
    assert "costs $5 and $10." in html  # a dollar next to a digit is money, not math
    block = re.search(r'<div class="math block">\s*<math display="block">(.*?)</math>', html)
    assert block and "<mfrac><mrow><mn>1</mn></mrow><mrow><mi>n</mi></mrow></mfrac>" in block[1]
    assert "<mo>∑</mo>" in block.group(1)


def test_formulas_cannot_inject_markup_or_links():
    hostile = (
        r"$\href{javascript:alert(1)}{x} + \text{<script>alert(1)</script>}$ and "
        r"$\text{</math><img src=x onerror=alert(2)>} \style{color:red}{y}$"
    )
    html = str(render_markdown(hostile))
    for bad in ("href", "<script", "<img", "onerror", "style", "javascript"):
        assert bad not in html.lower(), bad
    tags = set(re.findall(r"</?([a-z]+)", html))
    assert tags <= MATHML_TAGS | {"p", "span"}, tags - MATHML_TAGS


def test_bad_formula_is_a_content_error_with_file_line_and_fix(tmp_path):
    folder = tmp_path / "pages" / "methods"
    folder.mkdir(parents=True)
    (folder / "saliency.md").write_text("# Saliency\n\nFine $x_i$.\n\nBroken $\\frac{1}{$ here.\n")
    with pytest.raises(ContentError) as err:
        load_prose("methods", tmp_path)
    message = str(err.value)
    assert str(folder / "saliency.md") in message and "line 5: $\\frac{1}{$" in message
    assert "latex2mathml" in message and "1 formula(s)" in message


def test_every_method_page_states_its_equation_as_typeset_math():
    prose = load_prose("methods")
    for name in set(PROBES) - {"activations"}:  # the forward pass: no method to state
        assert "$$" in prose[name].text, f"{name}: no display formula"
        html = str(render_markdown(prose[name].text))
        assert html.count('<math display="block">') >= 1 and "<code>\\" not in html, name
        # no formula left as ASCII in a code span (the pages wrote `sum_{i=1..n} ...` before)
        assert not re.search(r"<code>[^<]*(sum_|d[a-z]_?[a-z]?\s*/\s*d|\^2)", html), name


def test_search_text_of_a_formula_is_its_typeset_characters():
    text = inline_text(r"Gate $\mathrm{ReLU}(z) = \max(0, z)$, ratio $p_k / p_j$; costs $5 and $10")
    assert text == "Gate ReLU(z)=max(0,z), ratio pk/pj; costs $5 and $10"
    assert inline_text(r"broken $\frac{1}{$ stays") == r"broken $\frac{1}{$ stays"
