from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.trainer.conftest import make_spec
from trainer.pacing import StepPacer
from trainer.reporter import ListReporter
from trainer.run import train


def paced(target_s: float, cap: int = 64) -> tuple[StepPacer, SimpleNamespace]:
    pacer, model = StepPacer(target_s=target_s, cap=cap), SimpleNamespace(steps_per_execution=1)
    pacer.model = model  # what prepare() sets, without a real model
    return pacer, model


def test_the_first_execution_is_not_measured_since_it_traces():
    pacer, model = paced(target_s=0.1)

    assert pacer.after_execution(1, 2.5, remaining=500) == 1 and model.steps_per_execution == 1


def test_it_runs_as_many_steps_as_fit_in_the_target_time_up_to_the_cap():
    pacer, model = paced(target_s=0.1, cap=64)
    pacer.after_execution(1, 3.0, remaining=5000)  # tracing

    # 10 ms a step: 10 steps fit in 0.1 s, reached in at most 4x steps per execution.
    assert [pacer.after_execution(n, n * 0.01, remaining=5000) for n in (1, 4, 10, 10)] == [4, 10, 10, 10]
    assert model.steps_per_execution == 10
    # 0.1 ms a step: the cap, not 1000.
    assert [pacer.after_execution(n, n * 1e-4, remaining=5000) for n in (10, 40, 64)] == [40, 64, 64]


def test_it_takes_fewer_steps_at_once_when_steps_get_slower():
    pacer, model = paced(target_s=0.1)
    pacer.after_execution(1, 3.0, remaining=5000)
    for n in (1, 4, 16, 64):
        pacer.after_execution(n, n * 1e-4, remaining=5000)

    # Another process takes the CPU: a step now costs 25 ms, so 4 steps make 0.1 s.
    assert pacer.after_execution(64, 64 * 0.025, remaining=5000) == 4 and model.steps_per_execution == 4
    # Slower than the target even for one step: one step per execution, never 0.
    assert pacer.after_execution(4, 4 * 0.5, remaining=5000) == 1


def test_an_execution_never_runs_past_the_epoch_and_between_epochs_it_is_one_step():
    pacer, model = paced(target_s=0.1)
    pacer.after_execution(1, 3.0, remaining=99)
    for n in (1, 4, 16):
        pacer.after_execution(n, n * 1e-4, remaining=50)

    assert pacer.after_execution(64, 64 * 1e-4, remaining=10) == 10
    # The epoch's last step: validation and predictions run their one-step functions.
    assert pacer.after_execution(10, 10 * 1e-4, remaining=0) == 1 and model.steps_per_execution == 1
    # The next epoch starts with one step, then goes straight back to its pace.
    assert pacer.after_execution(1, 1e-4, remaining=99) == 64


def test_with_no_target_or_no_known_epoch_length_it_stays_at_one_step():
    pacer, model = paced(target_s=0)
    pacer.after_execution(1, 3.0, remaining=500)
    assert pacer.after_execution(1, 1e-4, remaining=500) == 1 and model.steps_per_execution == 1

    pacer, model = paced(target_s=0.1)
    pacer.after_execution(1, 3.0, remaining=None)
    assert pacer.after_execution(1, 1e-4, remaining=None) == 1 and model.steps_per_execution == 1


class StopAfterPolls(ListReporter):
    """Asks to stop from its `polls + 1`-th `should_stop()` on (polled once per execution)."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.polls_left = polls

    def should_stop(self) -> bool:
        self.polls_left -= 1
        return self.polls_left < 0


@pytest.fixture
def pace_up_to_8(monkeypatch):
    """A target no execution reaches: steps per execution grow 1, 1, 4, 8, 8, ... whatever
    the machine's speed, so what a test sees does not depend on timing."""
    monkeypatch.setattr("trainer.context.PACE_TARGET_S", 1e6)
    monkeypatch.setattr("trainer.context.PACE_CAP", 8)
    monkeypatch.setattr("trainer.context.PACE_MIN_STEPS", 0)  # the tests' fits are short


def test_a_stop_request_is_seen_at_the_end_of_the_execution_it_arrives_in(
        tiny_digits, tmp_path, skip_export, pace_up_to_8):
    # 216 training samples in batches of 4: 54 steps an epoch. A tiny batch interval makes
    # every execution send a batch event, so the events show where each execution ended.
    reporter = StopAfterPolls(polls=5)
    spec = make_spec("mlp", epochs=3, batch_size=4, hidden_layers=[8])

    result = train(spec, reporter, tmp_path, dataset=tiny_digits, batch_interval=1e-9)

    steps = [b["step"] for b in reporter.of_type("batch")]
    # Executions of 1, 1, 4, 8, 8 steps, then the 6th (8 steps) sees the request and is the
    # last: the cancel latency is at most one execution, at most PACE_CAP steps.
    assert steps == [1, 2, 6, 14, 22, 30]
    assert result["status"] == "cancelled" and result["epochs_run"] == 0
    assert reporter.of_type("epoch") == []


def test_paced_batch_events_carry_exact_steps_and_each_epoch_ends_on_its_last(
        tiny_digits, tmp_path, skip_export, pace_up_to_8):
    reporter = ListReporter()
    spec = make_spec("mlp", epochs=2, batch_size=4, hidden_layers=[8])

    train(spec, reporter, tmp_path, dataset=tiny_digits, batch_interval=1e-9)

    batches = reporter.of_type("batch")
    for epoch in (1, 2):
        steps = [b["step"] for b in batches if b["epoch"] == epoch]
        assert steps[-1] == 54 and all(b["steps"] == 54 for b in batches)
        gaps = np.diff([0, *steps])
        # Every execution ends on an exact step, none runs more than the cap; each epoch
        # starts with one step (the pacer sets 1 between epochs, for validation), then
        # epoch 2 goes straight back to the pace epoch 1 reached.
        assert gaps.min() >= 1 and gaps.max() <= 8
        assert steps[:3] == ([1, 2, 6] if epoch == 1 else [1, 9, 17])


def test_pacing_changes_how_often_keras_calls_back_not_what_it_trains(tiny_digits, tmp_path,
                                                                     skip_export, pace_up_to_8):
    # batch_interval=0 reports every step, so it runs one step per execution: the reference.
    spec = make_spec("mlp", epochs=3, batch_size=8, hidden_layers=[16], dropout=0.2)
    one_step = train(spec, ListReporter(), tmp_path / "one", dataset=tiny_digits, batch_interval=0)
    paced_run = train(spec, ListReporter(), tmp_path / "paced", dataset=tiny_digits, batch_interval=60)

    # Same batches in the same order, validation on every validation sample: the same curves.
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(paced_run["history"][name], one_step["history"][name],
                                   rtol=1e-4, atol=1e-6)
    assert paced_run["test_metrics"]["accuracy"] == pytest.approx(one_step["test_metrics"]["accuracy"])


def test_after_a_cancelled_fit_predict_runs_one_step_per_execution_again(tiny_digits):
    import tf_keras as keras

    model = keras.Sequential([keras.layers.Flatten(input_shape=(8, 8, 1)), keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pacer = StepPacer(target_s=1e6, cap=8)
    pacer.prepare(model)
    for _ in range(2):  # the trace, then one step: 4 steps next, mid-epoch, as a cancel leaves it
        pacer.after_execution(1, 1.0, remaining=100)
    assert model.steps_per_execution.numpy() == 4

    pacer.finish()

    assert model.steps_per_execution.numpy() == 1
    assert model.predict(tiny_digits.x_test[:50], batch_size=8, verbose=0).shape == (50, 10)


def test_a_fit_too_short_to_earn_back_the_longer_trace_runs_one_step_per_execution(
        tiny_digits, tmp_path, skip_export):
    reporter = ListReporter()
    spec = make_spec("mlp", epochs=2, batch_size=4, hidden_layers=[8])  # 108 steps in all

    train(spec, reporter, tmp_path, dataset=tiny_digits, batch_interval=1e-9)

    assert [b["step"] for b in reporter.of_type("batch")] == [*range(1, 55)] * 2
