"""The recipe catalog: what can be trained, on which data, with which knobs.

Importing this package does not import TensorFlow; each recipe's `build` does, when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from trainer.hyperparams import Param
from trainer.serving import Action, Page

if TYPE_CHECKING:
    import numpy as np
    import tf_keras as keras


@dataclass(frozen=True)
class ModelCount:
    """What a recipe's model weighs, counted from its hyperparameters without building it.

    `trainer.sizing` turns it into bytes; a test checks every figure that Keras can count
    against the really built model.

    Attributes:
        params: `model.count_params()`: every weight a checkpoint holds (non-trainable too).
        trainable: those of `params` the optimizer keeps slots for.
        exported: weights of the exported Keras/TF.js model(s); 0 for a recipe that exports
            none (its files are JSON).
        activations: floats one sample's forward pass produces in a training step (layer
            outputs, counted once per call).
        exports_optimizer: the exported `.h5` is the compiled training model, which Keras
            saves with its optimizer's slots (a classifier); False for sub-models.
    """

    params: int
    trainable: int
    exported: int
    activations: int
    exports_optimizer: bool = True


@dataclass(frozen=True)
class Recipe:
    """A trainable demo: a model builder plus its datasets and hyperparameter schema.

    Attributes:
        name: identifier used in job specs and URLs.
        title: human-readable name.
        task: kind of problem; "classification" for every current recipe.
        description: two lines for the gallery.
        datasets: names of the datasets it can train on.
        default_dataset: the dataset used when a job names none.
        hyperparameters: COMMON plus the recipe's own knobs, with recipe-appropriate defaults.
        build: `build(hp, input_shape, num_classes)` returns an uncompiled `tf_keras.Model`.
        dataset_options: names of hyperparameters that are passed on to `datasets.load`
            (FizzBuzz's `num_digits` shapes its data as well as its model).
        sample: optional `sample(model, x_test, y_test)` returning recipe-specific outputs
            (a `sample` event's data) after each epoch.
        run: optional runner `run(context: trainer.context.RunContext) -> dict` for recipes
            that are not plain classifiers (custom data, losses, metrics or exports); None uses
            `trainer.fitting.run_classification` (and lets the browser train it too).
        pages: the in-browser pages for a succeeded job (`trainer.serving.Page`), e.g. the
            digits page → /try/digits/<id>/; the first is the job page's "Try it" link.
        actions: extra API actions on a succeeded job (`trainer.serving.Action`), e.g.
            translate → POST /api/v1/jobs/<id>/translate/.
        count: `count(hp, input_shape, num_classes)` returns the `ModelCount` of the model
            `build` (or the recipe's runner) would make, without TensorFlow: submissions are
            sized in the web process, which must not allocate the weights it is to refuse.
        user_data: kinds of uploaded datasets (`trainer.user_data.KINDS`) it trains on, named
            in a job as "user:<id>"; () for none.
        browser_parts: for a recipe with its own runner that a browser can still train as a
            frozen base and a classifier head: `browser_parts(hp, dataset, data_dir,
            base_models) -> (base, head)` (tf_keras models; the tab computes the base's outputs
            once and trains the head). None: only a recipe without `run` trains in a browser.
        browser_errors: `browser_errors(hp) -> [reason]`: settings a browser cannot train
            with `browser_parts` (without TensorFlow: it runs at submission).
    """

    name: str
    title: str
    task: str
    description: str
    datasets: tuple[str, ...]
    default_dataset: str
    hyperparameters: dict[str, Param]
    build: Callable[[dict[str, Any], tuple[int, ...], int], keras.Model]
    dataset_options: tuple[str, ...] = ()
    sample: Callable[[keras.Model, np.ndarray, np.ndarray], dict[str, Any]] | None = None
    run: Callable[[Any], dict[str, Any]] | None = None
    pages: tuple[Page, ...] = ()
    actions: tuple[Action, ...] = ()
    count: Callable[[dict[str, Any], tuple[int, ...], int], ModelCount] | None = None
    user_data: tuple[str, ...] = ()
    browser_parts: Callable[..., tuple[Any, Any]] | None = None
    browser_errors: Callable[[dict[str, Any]], list[str]] | None = None

    @property
    def try_page(self) -> str | None:
        """The name of the recipe's first page (the catalog's `try_page`), or None."""
        return self.pages[0].name if self.pages else None

    def defaults(self) -> dict[str, Any]:
        """Returns every hyperparameter's default value."""
        return {name: param.default for name, param in self.hyperparameters.items()}

    def catalog_entry(self) -> dict[str, Any]:
        """Returns this recipe as one item of GET /api/v1/recipes/."""
        return {
            "name": self.name,
            "title": self.title,
            "task": self.task,
            "description": self.description,
            "datasets": list(self.datasets),
            "default_dataset": self.default_dataset,
            "try_page": self.try_page,
            # Where it can train: every recipe on a server; classifiers (and heads on a frozen
            # base) also in the browser.
            "engines": ["server", "browser"] if self.run is None or self.browser_parts else ["server"],
            # Kinds of uploaded datasets it trains on, named "user:<id>" (GET /api/v1/datasets/).
            "user_data": list(self.user_data),
            "hyperparameters": {
                name: param.schema() for name, param in self.hyperparameters.items()
            },
        }


def _load_recipes() -> dict[str, Recipe]:
    from trainer.recipes import cifar10, dcgan, fizzbuzz, lenet, matrix_factorization, mlp
    from trainer.recipes import imagenet, plane, seq2seq, transfer

    return {module.RECIPE.name: module.RECIPE
            for module in (mlp, lenet, fizzbuzz, cifar10, dcgan, matrix_factorization, seq2seq, imagenet, transfer,
                           plane)}


RECIPES: dict[str, Recipe] = _load_recipes()


def get_recipe(name: str) -> Recipe:
    """Returns the recipe called `name`.

    Raises:
        KeyError: naming the known recipes.
    """
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"Unknown recipe {name!r}. Choose one of: {', '.join(RECIPES)}.") from None


def pages() -> dict[str, tuple[Page, list[str]]]:
    """Every recipe page by name, with the recipes that declare it (in catalog order)."""
    found: dict[str, tuple[Page, list[str]]] = {}
    for recipe in RECIPES.values():
        for page in recipe.pages:
            found.setdefault(page.name, (page, []))[1].append(recipe.name)
    return found


def actions() -> dict[str, tuple[Action, list[str]]]:
    """Every extra API action by name, with the recipes that declare it."""
    found: dict[str, tuple[Action, list[str]]] = {}
    for recipe in RECIPES.values():
        for action in recipe.actions:
            found.setdefault(action.name, (action, []))[1].append(recipe.name)
    return found


def recipe_catalog() -> list[dict[str, Any]]:
    """Returns the payload of GET /api/v1/recipes/: one entry per recipe."""
    return [recipe.catalog_entry() for recipe in RECIPES.values()]
