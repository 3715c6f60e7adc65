from __future__ import annotations

import subprocess
import sys

from tests.trainer.conftest import REPO


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_the_trainer_imports_neither_django_nor_celery():
    done = run_python("import trainer.run, trainer.spec, trainer.recipes, trainer.export, "
                      "trainer.datasets, sys; "
                      "assert 'django' not in sys.modules and 'celery' not in sys.modules")

    assert done.returncode == 0, done.stderr


def test_validating_specs_does_not_import_tensorflow():
    done = run_python("import trainer.spec, trainer.recipes, trainer.hyperparams, sys; "
                      "trainer.spec.validate_spec({'recipe': 'lenet'}); "
                      "trainer.recipes.recipe_catalog(); "
                      "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")

    assert done.returncode == 0, done.stderr


def test_importing_the_trainer_selects_legacy_keras():
    done = run_python("import os; os.environ.pop('TF_USE_LEGACY_KERAS', None); import trainer; "
                      "print(os.environ['TF_USE_LEGACY_KERAS'])")

    assert done.stdout.strip() == "1", done.stderr
