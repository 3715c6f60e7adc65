"""Fitting a classifier: the validation split, the optimizers, the precision policy, and
`run_classification`, the runner of every recipe without its own (mlp, lenet, fizzbuzz, cifar10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.metrics import analyse, score_predictions

if TYPE_CHECKING:
    from trainer.context import RunContext


def run_classification(context: RunContext) -> dict[str, Any]:
    """The runner of image/feature classifiers (mlp, lenet, fizzbuzz, cifar10)."""
    hp, recipe, events = context.hp, context.recipe, context.events
    dataset = context.load_dataset()
    x_train, y_train, x_val, y_val = split_validation(
        dataset.x_train, dataset.y_train, hp["validation_split"], hp["seed"]
    )
    events.log(f"Training {recipe.name} on {dataset.name} ({len(x_train)} train, "
               f"{len(x_val)} validation samples) with {context.precision} on "
               f"{', '.join(context.devices)}.")
    with context.strategy.scope():
        model = recipe.build(hp, dataset.input_shape, dataset.num_classes)
        context.prepare_model(model)
        model.compile(
            optimizer=make_optimizer(hp["optimizer"], hp["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    result = context.fit(
        model, x_train, y_train, validation_data=(x_val, y_val), num_samples=len(x_train),
        callbacks=context.snapshot_callbacks(), sample=_sampler(recipe, model, dataset),
        # A probe's pictures at most 4 times a second, as a browser sends them.
        sample_interval_s=0.25 if dataset.probe is not None else 0.0,
    )

    return context.finish(
        result, evaluate=lambda result: evaluate_classifier(model, dataset, result["history"], events),
        export=lambda: export_classifier(model, dataset, context.workdir, **context.export_options()))


def _sampler(recipe, model, dataset):
    """The job's `sample(model)`: the recipe's own outputs and/or the dataset's probe's."""
    parts = []
    if recipe.sample:
        parts.append(lambda m: recipe.sample(m, dataset.x_test, dataset.y_test))
    if dataset.probe is not None:
        from trainer.probe import probe_sampler

        parts.append(probe_sampler(model, dataset.probe))
    if not parts:
        return None
    return lambda m: {key: value for part in parts for key, value in part(m).items()}


def evaluate_classifier(model, dataset, history: dict[str, list[float]], events) -> dict[str, Any]:
    """The test metrics, analysis and warnings of a trained classifier (wherever it trained:
    a worker, or a browser whose weights came back, `trainer.browser`); warnings are logged."""
    from trainer.analysis import learning_warnings

    probabilities = model.predict(dataset.x_test, batch_size=256, verbose=0)
    test_metrics = score_predictions(probabilities, dataset.y_test)
    analysis = analyse(probabilities, dataset.y_test, dataset.class_names, images=dataset.x_test)
    warnings = learning_warnings(test_metrics["accuracy"], dataset.y_test, dataset.num_classes,
                                 history.get("loss", []))
    for warning in warnings:
        events.on_event("log", {"message": warning["message"], "warning": warning["code"]})
    events.log(f"Test accuracy {test_metrics['accuracy']:.4f}; exporting.")
    return {"test_metrics": test_metrics, "analysis": analysis, "warnings": warnings}


def export_classifier(model, dataset, workdir, **options: Any) -> list[dict[str, Any]]:
    """Exports a trained classifier (Keras .h5 and the TF.js variants), each scored on the test set."""
    from trainer.export import export_model

    return export_model(model, workdir, dataset.x_test, dataset.y_test, **options)


def resolve_precision(precision: str) -> str:
    """Returns the Keras policy name for a spec's precision ("auto" picks by hardware).

    "auto" means mixed_float16 on a GPU with compute capability 7.0+ (tensor cores), where it
    is faster and numerically safe with loss scaling; float32 everywhere else.
    """
    if precision != "auto":
        return precision
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (7, 0):
            return "mixed_float16"
    return "float32"


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Returns `(x_train, y_train, x_val, y_val)`: a seeded random `fraction` held out."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = min(max(1, round(len(x) * fraction)), len(x) - 1)
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def make_optimizer(name: str, learning_rate: float):
    """Returns a tf_keras optimizer; "momentum" is SGD with momentum 0.9."""
    import tf_keras as keras

    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    classes = {"sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad,
               "rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}
    return classes[name](learning_rate)
