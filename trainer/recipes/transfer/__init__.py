"""Transfer learning: a new softmax head on a frozen base, either a pre-trained ImageNet CNN
(trainer.pretrained) or the body of one of the user's own succeeded jobs ("job:<id>"), with the
last `trainable_layers` layers of the base trained too. With the base all frozen, the base turns
each image into its features once and only the head trains (seconds); the job also trains the
same head on the features of the same base with random weights, so its result says what the
pre-training is worth."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import pretrained
from trainer.datasets import DatasetError
from trainer.hyperparams import COMMON, Param, job_reference
from trainer.recipes import ModelCount, Recipe

IMAGE_DATASETS = ("digits", "digits_0_4", "digits_5_9", "mnist", "fashion_mnist", "cifar10", "cifar10_cars_horses")
# What the classifier heads of the ImageNet models weigh (features × 1,000 + 1,000), which the
# base leaves out.
_TOP = {"mobilenet_v2": 1280 * 1000 + 1000, "densenet121": 1024 * 1000 + 1000}
_FEATURES = {"mobilenet_v2": 1280, "densenet121": 1024}
# Fixed layers that adapt a dataset's images to a base; never trained.
ADAPTERS = ("imagenet_scale", "rgb_to_grey")


MAX_RESIZE_SIDE = 1024  # the largest intermediate image a resize by up- and down-sampling makes


def _resize(x, source: tuple[int, int], target: tuple[int, int]):
    """Resizes images inside the model by whole factors: nearest upsampling, then average
    pooling (via the sides' common divisor when neither divides the other). Both compute
    exactly the same in tf_keras and TF.js, where TF.js 4.22's Resizing layer does not: it
    gets the output shape of a batch wrong and aligns corners, which Keras does not."""
    import math

    import tf_keras as keras

    if tuple(source) == tuple(target):
        return x
    divisors = [math.gcd(s, t) for s, t in zip(source, target)]
    up = tuple(t // g for t, g in zip(target, divisors))
    down = tuple(s // g for s, g in zip(source, divisors))
    if any(s * u > MAX_RESIZE_SIDE for s, u in zip(source, up)):
        raise DatasetError(f"The images are {source[0]}x{source[1]} and the base takes {target[0]}x{target[1]}: "
                           f"resizing would pass through {source[0] * up[0]}x{source[1] * up[1]} pixels, over "
                           f"{MAX_RESIZE_SIDE}; upload them at a size closer to the base's.")
    if up != (1, 1):
        x = keras.layers.UpSampling2D(up, interpolation="nearest", name="upsample")(x)
    if down != (1, 1):
        x = keras.layers.AveragePooling2D(down, name="downsample")(x)
    return x


def imagenet_size(side: int, wanted: int) -> int:
    """The side an ImageNet base sees: `side` times or divided by the whole factor that comes
    nearest to `wanted` (at least 32, the CNNs' smallest)."""
    if side >= wanted:
        factor = max(1, round(side / wanted))
        while side // factor < 32 and factor > 1:
            factor -= 1
        return side // factor if side % factor == 0 else side
    factor = max(1, round(wanted / side))
    while side * factor < 32:
        factor += 1
    return side * factor


def _imagenet_base(name: str, input_shape: tuple[int, ...], size: int, data_dir, *, trained: bool):
    """Images in [0, 1] of `input_shape` → the CNN's pooled features: grey copied to RGB, resized
    by a whole factor to about `size` (`imagenet_size`), mapped to the CNN's own input scale by a frozen 1x1 depthwise convolution (exact,
    and loadable by TF.js), then the CNN without its ImageNet head, one flat model."""
    import tf_keras as keras

    arch = pretrained.architecture(name)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    side = (imagenet_size(input_shape[0], size), imagenet_size(input_shape[1], size))
    x = _resize(x, tuple(input_shape[:2]), side)
    scale = keras.layers.DepthwiseConv2D(1, name="imagenet_scale", trainable=False)
    x = scale(x)
    if arch.preprocess == "tf":  # [0, 1] → [-1, 1]
        multiply, add = np.full(3, 2.0), np.full(3, -1.0)
    else:  # (x - mean) / std per channel
        multiply = 1 / np.asarray(pretrained.TORCH_STD)
        add = -np.asarray(pretrained.TORCH_MEAN) / np.asarray(pretrained.TORCH_STD)
    scale.set_weights([multiply.reshape(1, 1, 3, 1).astype("float32"), add.astype("float32")])
    body = getattr(keras.applications, arch.application)(
        input_tensor=x, include_top=False, pooling="avg", weights=None)
    model = keras.Model(inputs, body.output, name=f"{name}_base")
    if trained:
        # The strict load checks the file against the whole architecture; then layer by name.
        source = {layer.name: layer for layer in pretrained.load(name, data_dir).layers}
        for layer in model.layers:
            if layer.weights and layer.name in source:
                layer.set_weights(source[layer.name].get_weights())
    return model


def _job_base(path: str, input_shape: tuple[int, ...], *, trained: bool):
    """The body of another job's classifier (its exported model.h5 without the last layer), fed
    this dataset's images (resized and grey/RGB converted where they differ)."""
    import tf_keras as keras

    parent = keras.models.load_model(path, compile=False)
    if not trained:
        parent = keras.models.clone_model(parent)  # same architecture, fresh weights
    expected = tuple(parent.input_shape[1:])
    if len(expected) != 3 or len(input_shape) != 3:
        raise DatasetError(f"The base job's model takes {expected}; transfer builds on image classifiers "
                           f"and trains on images, and this dataset's samples are {input_shape}.")
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if input_shape[-1] == 1 and expected[-1] == 3:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    elif input_shape[-1] == 3 and expected[-1] == 1:
        grey = keras.layers.Conv2D(1, 1, use_bias=False, name="rgb_to_grey", trainable=False)
        x = grey(x)
        grey.set_weights([np.full((1, 1, 3, 1), 1 / 3, dtype="float32")])
    x = _resize(x, tuple(input_shape[:2]), expected[:2])
    if isinstance(parent, keras.Sequential):
        # Its layers one by one (the same layer objects, so the same weights): a flat model whose
        # last layers `trainable_layers` can name.
        features = x
        for layer in parent.layers[:-1]:
            features = layer(features)
    else:
        features = keras.Model(parent.input, parent.layers[-2].output, name="body")(x)
    return keras.Model(inputs, features, name="job_base")


def make_base(hp: dict[str, Any], input_shape, data_dir, base_models: dict[str, Any], *, trained: bool = True):
    if job_reference(hp["base"]) is not None:
        return _job_base(base_models["base"], input_shape, trained=trained)
    return _imagenet_base(hp["base"], input_shape, hp["input_size"], data_dir, trained=trained)


def head_model(width: int, num_classes: int):
    """The new softmax head on `width` features (the browser trains this same model)."""
    import tf_keras as keras

    return keras.Sequential([keras.Input((width,)), keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="head")], name="head")


def with_head(base, num_classes: int):
    """`base` with a new head (`head_model`'s layer) on its features, as one model."""
    import tf_keras as keras

    return keras.Model(base.input, head_model(base.output_shape[-1], num_classes).layers[-1](base.output))


def browser_parts(hp: dict[str, Any], dataset, data_dir, base_models: dict[str, Any]):
    """The frozen base (the tab computes each image's features once) and the head it trains."""
    base = make_base(hp, dataset.input_shape, data_dir, base_models)
    base.trainable = False
    return base, head_model(base.output_shape[-1], dataset.num_classes)


def browser_errors(hp: dict[str, Any]) -> list[str]:
    if hp.get("trainable_layers", 0):
        return [f"A browser trains the head on a frozen base: trainable_layers must be 0, not "
                f"{hp['trainable_layers']} (a server trains those)."]
    return []


def _unfreeze_last(base, count: int) -> list[str]:
    """Freezes the base but its last `count` layers with weights; returns the trainable ones."""
    base.trainable = True
    with_weights = [layer for layer in base.layers if layer.weights and layer.name not in ADAPTERS]
    trainable = with_weights[len(with_weights) - count:] if count else []
    for layer in base.layers:
        layer.trainable = layer in trainable
    return [layer.name for layer in trainable]


def build_transfer(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
    """The model of an ImageNet base with random weights and a new head (for counting and tests;
    the runner builds it with the base's weights)."""
    return with_head(_imagenet_base(hp["base"], input_shape, hp["input_size"], None, trained=False), num_classes)


def count_transfer(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> ModelCount:
    """An ImageNet base: its weights less the ImageNet head, the 1x1 scale and the new head. A
    job base was counted when that job trained; only the new head is counted here."""
    if job_reference(hp["base"]) is not None:
        return ModelCount(0, 0, 0, 0)
    features = _FEATURES[hp["base"]]
    head = features * num_classes + num_classes
    params = pretrained.architecture(hp["base"]).params - _TOP[hp["base"]] + 6 + head
    size = hp["input_size"]
    # Forward floats at input_size, scaled from the 224 px figures of the whole model.
    from trainer.recipes.imagenet import FORWARD_FLOATS

    activations = int(FORWARD_FLOATS[hp["base"]] * (size / 224) ** 2)
    trainable = params if hp["trainable_layers"] else head
    return ModelCount(params, trainable, params, activations)


def run_transfer(context) -> dict[str, Any]:
    import tf_keras as keras

    from trainer.fitting import evaluate_classifier, export_classifier, make_optimizer, split_validation

    hp, events = context.hp, context.events
    dataset = context.load_dataset()
    x_train, y_train, x_val, y_val = split_validation(dataset.x_train, dataset.y_train, hp["validation_split"],
                                                      hp["seed"])
    described = (f"job {job_reference(hp['base'])}'s network" if job_reference(hp["base"])
                 else f"{pretrained.architecture(hp['base']).title} (ImageNet)")
    with context.strategy.scope():
        base = make_base(hp, dataset.input_shape, context.data_dir, context.base_models)
    trainable = _unfreeze_last(base, hp["trainable_layers"])
    frozen = sum(1 for layer in base.layers if layer.weights and not layer.trainable and layer.name not in ADAPTERS)
    events.log(f"Base: {described}, {base.count_params():,} parameters; {frozen} layers with weights frozen"
               + (f", the last {len(trainable)} train ({', '.join(trainable)})" if trainable else ", all of them")
               + f"; a new {dataset.num_classes}-class softmax head on its {base.output_shape[-1]} features.")

    def compiled(model):
        model.compile(optimizer=make_optimizer(hp["optimizer"], hp["learning_rate"]),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    with context.strategy.scope():
        if not trainable:
            # A frozen base: its features once, then only the head trains.
            f_train, f_val = (base.predict(x, batch_size=64, verbose=0) for x in (x_train, x_val))
            head = compiled(head_model(base.output_shape[-1], dataset.num_classes))
            result = context.fit(head, f_train, y_train, validation_data=(f_val, y_val), num_samples=len(x_train))
            model = keras.Model(base.input, head.layers[-1](base.output), name="transfer")
        else:
            model = compiled(with_head(base, dataset.num_classes))
            result = context.fit(model, x_train, y_train, validation_data=(x_val, y_val), num_samples=len(x_train))
    compiled(model)

    def evaluate(result):
        scores = evaluate_classifier(model, dataset, result["history"], events)
        # The same head, the same epochs, on the features of the same base with random weights.
        untrained = make_base(hp, dataset.input_shape, context.data_dir, context.base_models, trained=False)
        scratch = compiled(head_model(untrained.output_shape[-1], dataset.num_classes))
        scratch.fit(untrained.predict(x_train, batch_size=64, verbose=0), y_train, epochs=result["epochs_run"] or 1,
                    batch_size=hp["batch_size"], verbose=0)
        _, accuracy = scratch.evaluate(untrained.predict(dataset.x_test, batch_size=64, verbose=0), dataset.y_test,
                                       verbose=0)
        scores["test_metrics"]["untrained_base_accuracy"] = float(accuracy)
        events.log(f"Test accuracy {scores['test_metrics']['accuracy']:.4f} on {described}; the same head on the "
                   f"same base with random weights: {accuracy:.4f}.")
        return scores

    return context.finish(result, evaluate=evaluate,
                          export=lambda: export_classifier(model, dataset, context.workdir, **context.export_options()))


RECIPE = Recipe(
    name="transfer",
    title="Transfer learning",
    task="classification",
    description=(
        "A new head on a network that already knows something: MobileNetV2 or DenseNet121 (ImageNet), or one of\n"
        "your own jobs, frozen but its last layers. Bring a few photos per class: only the head trains."
    ),
    datasets=IMAGE_DATASETS,
    default_dataset="digits",
    hyperparameters={
        **COMMON,
        "epochs": COMMON["epochs"].with_default(5),
        "base": Param("str", "mobilenet_v2", choices=tuple(pretrained.ARCHITECTURES), jobs=True,
                      help="The network to build on: an ImageNet CNN, or job:<id> (one of your image classifiers)."),
        "trainable_layers": Param("int", 0, min=0, max=50,
                                  help="Layers with weights at the end of the base that train too (0: only the head)."),
        "input_size": Param("int", 96, min=32, max=224,
                            help="An ImageNet base sees each image resized by a whole factor to about this many pixels square."),
    },
    build=build_transfer,
    count=count_transfer,
    run=run_transfer,
    user_data=("images",),
    browser_parts=browser_parts,
    browser_errors=browser_errors,
)
