"""Content Security Policy: every page says where scripts may come from, none may be inline, and
no template or script of ours needs more than that."""
from __future__ import annotations

import re
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.test import Client

from tests.support.ci import unavailable

ROOT = Path(settings.BASE_DIR)
ADMIN_TEMPLATES = Path(django.__file__).parent / "contrib" / "admin" / "templates"
# The admin's one <style>, a column width, rendered only for a ModelAdmin without actions (none
# of ours); the policy drops it and the page still works.
KNOWN = {"admin/change_list.html: <style> block"}
# What a policy without 'unsafe-inline' (script-src and style-src) refuses in HTML.
INLINE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "on* handler": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "javascript URL": re.compile(r"javascript:", re.I),
    "style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
    "<style> block": re.compile(r"<style\b", re.I),
}
# What a policy without 'unsafe-eval' refuses in scripts.
EVAL = re.compile(r"(?<![\w.$])(eval\s*\(|new\s+Function\s*\(|set(Timeout|Interval)\s*\(\s*[\"'`])")


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def inline_code(path: Path, base: Path | None = None) -> list[str]:
    name, text = path.relative_to(base or path.parent), path.read_text()
    return [f"{name}: {kind}: {match.group(0)[:80]}" for kind, pattern in INLINE.items()
            for match in pattern.finditer(text) if f"{name}: {kind}" not in KNOWN]


def test_the_scanner_finds_each_kind_of_inline_code(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<script>go()</script><a href="javascript:go()" onclick="go()">x</a>'
                    '<p style="color: red"></p><style>p {}</style><script src="/static/a.js"></script>')

    assert [line.split(": ")[1] for line in inline_code(page)] == list(INLINE)


@pytest.mark.django_db
def test_a_page_forbids_inline_scripts_and_eval(alice):
    client = Client()
    client.force_login(alice)

    policy = directives(client.get("/"))

    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]  # CSP Level 3: also this site's ws: and wss:
    assert {"data:", "blob:"} <= set(policy["img-src"]) and "blob:" in policy["worker-src"]


def test_no_template_of_ours_or_of_the_admin_has_inline_code():
    ours = sorted((ROOT / "templates").rglob("*.html"))
    admin = sorted(ADMIN_TEMPLATES.rglob("*.html"))

    found = [*(line for path in ours for line in inline_code(path, ROOT / "templates")),
             *(line for path in admin for line in inline_code(path, ADMIN_TEMPLATES))]

    assert len(ours) > 20 and len(admin) > 20 and found == []


def test_no_script_of_ours_needs_eval():
    scripts = sorted((ROOT / "static" / "js").glob("*.js"))

    found = [f"{path.name}: {m.group(0)}" for path in scripts for m in EVAL.finditer(path.read_text())]

    assert scripts and found == []


def test_the_tf_js_build_the_pages_load_needs_no_eval():
    # tf.min.js 4.22 bundles regenerator-runtime, whose strict-mode fallback is
    # Function("r", "regeneratorRuntime = r"): under this policy TF.js failed to load. The
    # es2017 build uses native async functions and has no such fallback.
    pages = [path for path in (ROOT / "templates").rglob("*.html") if "vendor/tf." in path.read_text()]
    assert pages and all("vendor/tf.es2017.min.js" in path.read_text() for path in pages)
    vendored = ROOT / "static" / "vendor" / "tf.es2017.min.js"
    if not vendored.exists():
        unavailable("static/vendor is built by `make vendor`")
    text = vendored.read_text()
    assert "regeneratorRuntime" not in text and not re.search(r"(?<![\w.$])Function\(\s*[\"']", text)


@pytest.mark.django_db
def test_the_api_docs_load_their_start_up_script_from_a_url_and_only_they_allow_inline_styles():
    page = Client().get("/api/docs/")
    script = Client().get("/api/docs/?script=")

    html = page.content.decode()
    assert page.status_code == 200 and '<script src="/api/docs/?script="></script>' in html
    assert not INLINE["inline <script>"].search(html)
    assert directives(page)["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives(page)["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db
def test_the_admin_log_in_page_is_served_under_the_policy():
    response = Client().get("/admin/login/")

    assert response.status_code == 200 and "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert not any(pattern.search(response.content.decode()) for pattern in INLINE.values())
