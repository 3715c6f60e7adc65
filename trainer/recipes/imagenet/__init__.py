"""Pre-trained ImageNet CNNs (trainer.pretrained): a job loads MobileNetV2's or DenseNet121's
ImageNet weights, trains nothing, and exports them like any job's model (Keras .h5 and TF.js
float32/float16/uint8) with the 1,000 class names, for the classify page (/classify/)."""

from __future__ import annotations

import json
from typing import Any

from trainer import pretrained
from trainer.artifacts import Artifact
from trainer.datasets import DatasetError, DatasetInfo, register
from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe
from trainer.recipes.imagenet import serving


def _not_stored(*args, **kwargs):
    raise DatasetError("ImageNet's images are not stored here: a pre-trained model's job loads its weights, "
                       "it trains on nothing.")


register(DatasetInfo(
    "imagenet", "ImageNet (ILSVRC 2012): 1,000 classes", (), _not_stored,
    homepage="https://www.image-net.org/challenges/LSVRC/2012/",
    shape=((224, 224, 3), 1000), train_samples=0,
))

# Per architecture: trainable weights (all but batch norm's moving statistics; a test checks
# them against the built models) and the floats one 224 px image's forward pass produces.
_TRAINABLE = {"mobilenet_v2": 3_504_872, "densenet121": 7_978_856}
FORWARD_FLOATS = {"mobilenet_v2": 21_665_432, "densenet121": 49_776_084}


def build_imagenet(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
    """Returns the architecture with random weights; the runner loads the ImageNet ones."""
    return pretrained.build(hp["model"])


def count_imagenet(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> ModelCount:
    params = pretrained.architecture(hp["model"]).params
    return ModelCount(params, _TRAINABLE[hp["model"]], params, FORWARD_FLOATS[hp["model"]], exports_optimizer=False)


def run_imagenet(context) -> dict[str, Any]:
    from trainer.export import export_keras_model

    arch = pretrained.architecture(context.hp["model"])
    context.events.log(f"Loading {arch.title} with its ImageNet weights (nothing to train).")
    model = pretrained.load(arch.name, context.data_dir)  # PretrainedUnavailable fails the job with its message
    names = pretrained.class_names(context.data_dir, for_model=arch.name)
    context.events.log(f"{arch.title}: {model.count_params():,} parameters, {arch.size}x{arch.size} RGB input; "
                       "exporting.")
    labels = context.workdir / "labels.json"
    labels.write_text(json.dumps({"model": arch.name, "size": arch.size, "preprocess": arch.preprocess,
                                  "mean": pretrained.TORCH_MEAN, "std": pretrained.TORCH_STD, "classes": names}))
    result = {"status": "succeeded", "epochs_run": 0, "best_epoch": None, "history": {}, "fit_seconds": 0.0,
              "samples_per_s": 0.0, "test_metrics": {}}
    return context.finish(result, export=lambda: [
        *export_keras_model(model, context.workdir, **context.export_options()),
        Artifact.written(context.workdir, "json", "labels", labels.name).to_dict(),
    ])


RECIPE = Recipe(
    name="imagenet",
    title="Pre-trained ImageNet CNN",
    task="classification",
    description=(
        "MobileNetV2 or DenseNet121 with Keras' ImageNet weights: nothing to train.\n"
        "Classify any photo into 1,000 ImageNet classes, in your browser and on the server side by side."
    ),
    datasets=("imagenet",),
    default_dataset="imagenet",
    hyperparameters={
        **COMMON,
        "epochs": COMMON["epochs"].with_default(1),
        # Sizing counts activations per batch; nothing trains, so the job's batch is one image.
        "batch_size": COMMON["batch_size"].with_default(1),
        "model": Param("str", "mobilenet_v2", choices=tuple(pretrained.ARCHITECTURES),
                       help="MobileNetV2 (3.5 M parameters, 14 MB) or DenseNet121 (8 M, 32 MB)."),
    },
    build=build_imagenet,
    count=count_imagenet,
    run=run_imagenet,
    pages=(serving.PAGE,),
    actions=(serving.CLASSIFY,),
)
