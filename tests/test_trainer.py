"""The training loop: schedules, non-finite losses, checkpoints and resuming within a stage."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from benchsuite import records
from benchsuite.datasets.splits import TensorSplit
from benchsuite.training.schedules import cosine_schedule, multistep_schedule
from benchsuite.training.trainer import NonFiniteLoss, ParameterGroup, Stage, Trainer


def _optimizer(lr=1.0):
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def _rates(schedule, epochs=4, steps=3, **kwargs):
    optimizer = _optimizer()
    scheduler = schedule(optimizer, epochs, steps, **kwargs)
    rates = []
    for _ in range(epochs * steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_multistep_drops_at_epoch_milestones():
    rates = _rates(multistep_schedule, milestones=[1, 3], gamma=0.1)
    assert rates == pytest.approx([1.0] * 3 + [0.1] * 6 + [0.01] * 3)


def test_cosine_starts_at_base_and_halves_midway():
    rates = _rates(cosine_schedule, epochs=2, steps=2)
    assert rates == pytest.approx([1.0, 0.5 * (1 + 2**-0.5), 0.5, 0.5 * (1 - 2**-0.5)])


def _regression_split(n=64):
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, 1, 2, 2), dtype=torch.uint8, generator=generator)
    y = x.flatten(1).float().sum(1)
    return TensorSplit(x, y, torch.zeros(n, dtype=torch.long))


class _Linear(nn.Module):
    """A one-stage method: a linear regression trained for 4 epochs, evaluated by `evaluation` if given."""

    def __init__(self, evaluation=None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(4, 1)
        self.evaluation = evaluation

    def step(self, batch):
        prediction = self.layer(batch["image"].flatten(1).float() / 255).squeeze(1)
        return ((prediction - batch["label"] / 255) ** 2).mean()

    def stages(self, dataset, context):
        yield Stage("train", self, self.step, _regression_split(), epochs=4, evaluated=self.evaluation is not None)

    def evaluate(self, dataset, context):
        return self.evaluation(self)

    def artefacts(self, dataset, context):
        return {}


def _trainer_and_method(folder, lr=0.1, evaluation=None):
    folder.mkdir(parents=True, exist_ok=True)
    model = _Linear(evaluation)
    trainer = Trainer(batch_size=8, optimizer=torch.optim.SGD, lr=lr, progress=False, device="cpu")
    trainer.generator.manual_seed(0)
    return model, trainer


def _train(folder, lr=0.1):
    model, trainer = _trainer_and_method(folder, lr)
    trainer.fit(model, None, folder)
    return model


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    uninterrupted = _train(tmp_path / "a")

    # Interrupt a second run right after its second epoch's checkpoint, then start it again.
    interrupted, trainer = _trainer_and_method(tmp_path / "b")
    save = trainer._save_checkpoint

    def save_then_stop(loop, state, index, epoch, logged):
        save(loop, state, index, epoch, logged)
        if epoch == 1:
            raise KeyboardInterrupt

    trainer._save_checkpoint = save_then_stop
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(interrupted, None, tmp_path / "b")
    assert not torch.equal(interrupted.layer.weight, uninterrupted.layer.weight)
    resumed = _train(tmp_path / "b")
    assert torch.equal(resumed.layer.weight, uninterrupted.layer.weight)


def _evaluated_method(folder):
    def evaluation(model):
        return {"row": {"test/weight": float(model.layer.weight.detach().sum())}}

    return _trainer_and_method(folder, evaluation=evaluation)


def _logged(folder):
    lines = [json.loads(line) for line in (folder / records.METRICS).read_text().splitlines()]
    return [(line["epoch"], line["test/weight"]) for line in lines]


def test_an_evaluation_is_logged_once_when_the_run_dies_between_checkpoint_and_log(tmp_path):
    model, trainer = _evaluated_method(tmp_path / "a")
    trainer.fit(model, None, tmp_path / "a")
    expected = _logged(tmp_path / "a")
    assert [epoch for epoch, _ in expected] == [1, 2, 3, 4]

    model, trainer = _evaluated_method(tmp_path / "b")
    save = trainer._save_checkpoint

    def save_then_die(loop, state, index, epoch, logged):
        save(loop, state, index, epoch, logged)
        if epoch == 2:
            raise KeyboardInterrupt  # after epoch 3's checkpoint, before its metrics line

    trainer._save_checkpoint = save_then_die
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(model, None, tmp_path / "b")
    assert [epoch for epoch, _ in _logged(tmp_path / "b")] == [1, 2]
    model, trainer = _evaluated_method(tmp_path / "b")
    trainer.fit(model, None, tmp_path / "b")
    assert _logged(tmp_path / "b") == expected


def test_non_finite_loss_stops_the_stage(tmp_path):
    with pytest.raises(NonFiniteLoss, match="Stage 'train': the loss became nan"):
        _train(tmp_path, lr=1e30)


class _TwoStages(nn.Module):
    """Stage "first" trains `first` (not evaluated); stage "second" trains `second` with its own learning rate.
    `steps` counts the training steps of each stage; the artefact "note.txt" is written after training."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first, self.second = nn.Linear(4, 1), nn.Linear(4, 1)
        self.steps = {"first": 0, "second": 0}

    def _step(self, name):
        def step(batch):
            self.steps[name] += 1
            prediction = getattr(self, name)(batch["image"].flatten(1).float() / 255).squeeze(1)
            return ((prediction - batch["label"] / 255) ** 2).mean()

        return step

    def stages(self, dataset, context):
        yield Stage("first", self.first, self._step("first"), _regression_split(), epochs=2, evaluated=False)
        yield Stage("second", self.second, self._step("second"), _regression_split(), epochs=2,
                    parameter_groups=[ParameterGroup(list(self.second.parameters()), lr=0.01)])

    def evaluate(self, dataset, context):
        return {"row": {"test/weight": float(self.second.weight.detach().sum())}}

    def artefacts(self, dataset, context):
        return {"note.txt": lambda path: path.write_text(f"trained on {context.device}")}


def test_a_stage_finished_before_a_resume_is_skipped_and_artefacts_are_written_last(tmp_path):
    trainer = Trainer(batch_size=8, optimizer=torch.optim.SGD, lr=0.1, progress=False, device="cpu")
    uninterrupted = _TwoStages()
    evaluation = trainer.fit(uninterrupted, None, tmp_path / "a")
    assert evaluation == {"row": {"test/weight": float(uninterrupted.second.weight.detach().sum())}}
    assert (tmp_path / "a" / "note.txt").read_text() == "trained on cpu"
    assert uninterrupted.steps == {"first": 16, "second": 16}  # 64 items, batches of 8, 2 epochs each

    interrupted = Trainer(batch_size=8, optimizer=torch.optim.SGD, lr=0.1, progress=False, device="cpu")
    save = interrupted._save_checkpoint

    def save_then_stop(loop, state, index, epoch, logged):
        save(loop, state, index, epoch, logged)
        if loop.name == "second" and epoch == 0:
            raise KeyboardInterrupt

    interrupted._save_checkpoint = save_then_stop
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(_TwoStages(), None, tmp_path / "b")
    assert not (tmp_path / "b" / "note.txt").exists()
    resumed = _TwoStages()
    Trainer(batch_size=8, optimizer=torch.optim.SGD, lr=0.1, progress=False, device="cpu").fit(
        resumed, None, tmp_path / "b"
    )
    assert resumed.steps == {"first": 0, "second": 8}  # stage "first" restored, not trained again
    assert torch.equal(resumed.first.weight, uninterrupted.first.weight)
    assert torch.equal(resumed.second.weight, uninterrupted.second.weight)
    assert (tmp_path / "b" / "note.txt").read_text() == "trained on cpu"


def test_the_trainer_builds_each_stages_optimizers_and_schedules_from_its_settings():
    trainer = Trainer(epochs=3, batch_size=8, optimizer=torch.optim.SGD, lr=0.1, weight_decay=0.5, device="cpu",
                      schedule=cosine_schedule, progress=False)
    method = _TwoStages()
    first, second = method.stages(None, trainer.context)
    first_loop, second_loop = trainer.loop(first), trainer.loop(second)
    assert (first_loop.epochs, first_loop.batch_size) == (2, 8)
    assert trainer.loop(Stage("all", method, method._step("first"), _regression_split())).epochs == 3
    for loop, layer, lr in ((first_loop, method.first, 0.1), (second_loop, method.second, 0.01)):
        (optimizer,) = loop.optimizers
        assert isinstance(optimizer, torch.optim.SGD)
        assert [p for group in optimizer.param_groups for p in group["params"]] == list(layer.parameters())
        assert (optimizer.param_groups[0]["initial_lr"], optimizer.param_groups[0]["weight_decay"]) == (lr, 0.5)
        assert len(loop.schedulers) == 1 and loop.schedulers[0].optimizer is optimizer
