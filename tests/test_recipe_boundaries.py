"""A recipe is one package: the web side routes its pages and actions from its declaration
and names no recipe anywhere (issue 13)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse

from trainer import recipes
from trainer.recipes import RECIPES, get_recipe
from trainer.serving import Action, Page

ROOT = Path(__file__).resolve().parents[1]


def _sources():
    for folder in ("playground", "static", "templates"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in {".py", ".js", ".html", ".css"} and "vendor" not in path.parts \
                    and "migrations" not in path.parts:
                yield path


def test_no_recipe_is_named_by_the_web_side():
    names = re.compile(r"\b(" + "|".join(map(re.escape, RECIPES)) + r")\b")
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _sources()
             for number, line in enumerate(path.read_text().splitlines(), 1) if names.search(line)]

    assert found == []


def test_every_declared_page_and_action_is_routed_under_its_own_url():
    for name in recipes.pages():
        assert reverse(f"try-{name}", args=[7]) == f"/try/{name}/7/"
    for name in recipes.actions():
        assert reverse(f"job-{name}", args=[7]) == f"/api/v1/jobs/7/{name}/"
    with pytest.raises(NoReverseMatch):
        reverse("try-nothing-declares-this", args=[7])


def test_a_new_recipe_declaring_a_page_and_an_action_gets_both_routes(monkeypatch):
    from playground.demos import try_pages
    from playground.jobs import serving

    page = Page(name="echo", template="demos/try_digits.html", module="js/try_digits.js", does="echoes",
                exported="its nothing is exported", missing="trainer.serving:classifier_missing",
                config="trainer.serving:classifier_config")
    action = Action(name="echo", summary="Echo.", needs="nothing", handler="builtins:dict",
                    request="trainer.recipes.seq2seq.api:TranslateRequestSerializer",
                    response="trainer.recipes.seq2seq.api:TranslateResponse")
    toy = dataclasses.replace(get_recipe("mlp"), name="toy", pages=(page,), actions=(action,))
    monkeypatch.setitem(RECIPES, "toy", toy)

    assert [p.pattern._route for p in try_pages.urlpatterns() if p.name == "try-echo"] == ["try/echo/<int:pk>/"]
    assert [p.pattern._route for p in serving.urlpatterns() if p.name == "job-echo"] == ["api/v1/jobs/<int:pk>/echo/"]
    assert recipes.pages()["echo"][1] == ["toy"]
    assert toy.catalog_entry()["try_page"] == "echo"


def test_a_page_names_the_recipes_that_declare_it_when_a_job_does_not_fit():
    from trainer.serving import DIGITS_PAGE, JobView

    job = JobView(pk=3, recipe="seq2seq", dataset="multi30k_de_en", status="succeeded", artifacts=[],
                  test_metrics={}, workdir=ROOT, action_url=lambda name: f"/{name}/")

    assert DIGITS_PAGE.unavailable_reason(job, ["mlp", "lenet"]) == (
        "Job #3 trained seq2seq on multi30k_de_en; this page draws images, so it needs an mlp or lenet job "
        "on digits, mnist or fashion_mnist.")
