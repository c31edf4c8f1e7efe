"""The one training loop and the trainer that runs a method's stages through it.

`train_loop` is the only loop over epochs and batches in the suite. A method declares its training as `Stage`s
(what to train, its step (a loss), its data, its parameter groups, whether it is evaluated); `Trainer.fit`
takes the sequence of stages, builds each stage's optimizers and schedules from its own settings into a
`Loop`, runs it with evaluation, checkpoints and a progress bar around it, and writes the method's artefacts
into the run folder. The linear probe and the embedded pretraining build a `Loop` themselves and run their
small models through the same `train_loop`. A method never sees the Trainer: between stages it gets a
read-only `RunContext` (device, evaluation batch size).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gin
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from tqdm import tqdm

from benchsuite import records
from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch, Split
from benchsuite.errors import ConfigError
from benchsuite.faults import kill_point
from benchsuite.training import checkpoints, distributed, rule_checkpoints
from benchsuite.training.schedules import constant_schedule

# Optimizers that gin files name, e.g. `Trainer.optimizer = @torch.optim.SGD` and `torch.optim.SGD.momentum = 0.9`.
for _optimizer in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
    gin.external_configurable(_optimizer, module="torch.optim")

#: row label (e.g. "ERM", "WCL (E_d)") -> metric name -> value
Evaluation = dict[str, dict[str, float]]
StepFn = Callable[[Batch], Tensor]


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the run is recorded as failed with this message."""


@dataclass(frozen=True)
class RunContext:
    """What a method may know of the run it is trained in (JTT computes its error set on the device between
    its stages; evaluation and artefacts run there too): read-only facts, not the Trainer."""

    device: torch.device
    eval_batch_size: int = 512


@dataclass
class ParameterGroup:
    """Parameters that one optimizer trains, of the trainer's kind and schedule; `lr` and `weight_decay`, when
    given, replace the trainer's for this group (WCL's E_b trains with its own `lr_b`)."""

    params: list[nn.Parameter]
    lr: float | None = None
    weight_decay: float | None = None


@dataclass
class Stage:
    """One phase of a method's training, as the method declares it: `modules` are put in train mode and
    optimised with `step`'s loss on `data`.

    epochs: None trains for `Trainer.epochs`. parameter_groups: one optimizer each, in order; None gives one
    optimizer over all of `modules`' parameters. evaluated: the trainer evaluates the method
    (`Method.evaluate`) every `Trainer.eval_every` epochs and after the last; the stage's last evaluation is
    the run's result if it is the last evaluated stage.
    """

    name: str
    modules: nn.Module
    step: StepFn
    data: Split
    epochs: int | None = None
    parameter_groups: list[ParameterGroup] | None = None
    evaluated: bool = True
    #: contrastive losses need full batches: a last batch of 1 image has no negatives
    drop_last: bool = True


@dataclass
class Loop:
    """What `train_loop` runs: a stage with everything the trainer decides (epochs, batch size, optimizers and
    their schedules); the probe and the pretraining build theirs directly."""

    name: str
    modules: nn.Module
    step: StepFn
    data: Split
    epochs: int
    batch_size: int
    optimizers: list[Optimizer]
    schedulers: list[LRScheduler] = field(default_factory=list)
    drop_last: bool = True
    #: train in this process alone, even under several: no batch sharding, gradient averaging or loss
    #: gathering (the embedded pretraining, which one process runs under a file lock while the others wait)
    local: bool = False


class Trainable(Protocol):
    """What `Trainer.fit` needs of a method (benchsuite.methods.base.Method): its declared stages, its
    evaluation and artefacts, and its state (an nn.Module's), which the checkpoints hold."""

    def stages(self, dataset: Dataset, context: RunContext) -> Iterator[Stage]: ...

    def evaluate(self, dataset: Dataset, context: RunContext) -> Evaluation: ...

    def artefacts(self, dataset: Dataset, context: RunContext) -> dict[str, Callable[[Path], None]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> Any: ...


@dataclass
class _Start:
    """Where a stage starts on this run's checkpoint: the epoch, the checkpoint's evaluation of the stage, and
    whether the stage was finished before this start (the checkpoint is of a later stage): it is then skipped."""

    epoch: int = 0
    evaluation: Evaluation = field(default_factory=dict)
    finished: bool = False


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Copy a batch to the device; on CUDA from pinned memory, so that the copy does not block the host."""
    if device.type == "cuda":
        batch = {key: value if value.is_pinned() else value.pin_memory() for key, value in batch.items()}
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def prepare_for_device(
    method: nn.Module, device: torch.device, compile_backbones: bool = False, channels_last: bool = True
) -> nn.Module:
    """Move `method` to `device`; with `channels_last` its weights in that memory format, which the convolutions
    then also give their outputs (oneDNN on the CPU and cuDNN under bf16 run it faster: the small CNN's full
    training step 1.3-1.4x on the CPU, benchmarks/README.md); with `compile_backbones` each backbone compiled in
    place by torch.compile (state_dict keys unchanged, so checkpoints stay compatible)."""
    method.to(device)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    if compile_backbones:
        from benchsuite.models.backbones import Backbone

        for module in method.modules():
            if isinstance(module, Backbone):
                module.compile()
    return method


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA; full precision on the CPU, where bf16 matmuls are slower, not faster."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def train_loop(
    loop: Loop,
    device: torch.device,
    generator: torch.Generator,
    *,
    start_epoch: int = 0,
    on_epoch_end: Callable[[int, float], None] | None = None,
    progress: bool = False,
) -> None:
    """Train `loop` from `start_epoch` to `loop.epochs`; `on_epoch_end(epoch, mean_loss)` after each."""
    steps = loop.data.num_batches(loop.batch_size, loop.drop_last)
    if steps == 0:
        raise ValueError(
            f"Stage '{loop.name}': the training split has {len(loop.data)} items, fewer than one batch of "
            f"{loop.batch_size}; lower Trainer.batch_size."
        )
    bar = tqdm(
        total=(loop.epochs - start_epoch) * steps,
        desc=loop.name,
        disable=not progress,
        mininterval=2.0,
        dynamic_ncols=True,
    )
    for epoch in range(start_epoch, loop.epochs):
        loop.modules.train()
        total = torch.zeros((), device=device)
        # Under several processes each loads only its slice of the same global batch (distributed.py).
        batches = loop.data.batches(
            loop.batch_size, shuffle=True, generator=generator, drop_last=loop.drop_last,
            shard=None if loop.local else distributed.shard(),
        )
        for batch in batches:
            with autocast_for(device):
                loss = loop.step(to_device(batch, device))
            for optimizer in loop.optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if not loop.local:
                distributed.average_gradients(loop.modules)
            for optimizer in loop.optimizers:
                optimizer.step()
            for scheduler in loop.schedulers:
                scheduler.step()
            total += loss.detach()
            bar.update(1)
        # One host sync per epoch, not per step: reading the loss every step stalls a GPU.
        totals = total.reshape(1) if loop.local else distributed.gather_detached(total.reshape(1))
        mean_loss = totals.mean().item() / steps
        if not math.isfinite(mean_loss):
            bar.close()
            raise NonFiniteLoss(f"Stage '{loop.name}': the loss became {mean_loss} in epoch {epoch + 1}.")
        bar.set_postfix(loss=f"{mean_loss:.4f}", epoch=epoch + 1)
        kill_point(f"epoch.{loop.name.replace(' ', '_')}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, mean_loss)
    bar.close()


@gin.configurable
class Trainer:
    """Runs a method's stages through `train_loop` with optimizers, schedules, evaluation, checkpoints, progress
    and the run folder's files (metrics.jsonl, the checkpoint, the method's artefacts).

    optimizer: a torch optimizer class, called as optimizer(params, lr=lr, weight_decay=weight_decay); its
    other arguments (SGD's momentum) are bound in gin on the class itself. schedule: see schedules.py.
    compile: compile the backbones with torch.compile (its measured effect on the CPU: benchmarks/README.md).
    channels_last: keep the weights, hence the activations, in channels_last memory format (faster convolutions
    on the CPU and on CUDA); the convolutions then sum in another order, so results differ slightly from a
    run with it off. rule_checkpoints: also keep, for each selection rule that picks an epoch, the state of the
    evaluation it would choose (rule_checkpoints.py; off by default, as it costs a model's weights per rule).
    Evaluation runs every `eval_every` epochs and after the last epoch; a checkpoint is written after every
    epoch and resumed from when the same run is started again.

    Each evaluation is saved in the checkpoint, with the length metrics.jsonl had before it, before its lines
    are appended to metrics.jsonl; a resumed run cuts metrics.jsonl back to that length and appends them
    again: metrics.jsonl holds every evaluation exactly once, however often and wherever the run is killed,
    also when it resumes from the previous checkpoint because the latest does not load (checkpoints.py).
    """

    def __init__(
        self,
        epochs: int = 10,
        batch_size: int = 128,
        optimizer: Callable[..., Optimizer] = torch.optim.Adam,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: Callable[[Optimizer, int, int], LRScheduler] = constant_schedule,
        eval_every: int = 1,
        eval_batch_size: int = 512,
        device: str = "auto",
        progress: bool = True,
        compile: bool = False,
        channels_last: bool = True,
        rule_checkpoints: bool = False,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.eval_every = eval_every
        self.eval_batch_size = eval_batch_size
        self.device = pick_device(device)
        self.progress = progress
        self.compile = compile
        self.channels_last = channels_last
        #: keep the checkpoint of the evaluation each epoch-picking selection rule would choose (rule_checkpoints.py)
        self.rule_checkpoints = rule_checkpoints
        self.generator = torch.Generator()
        #: the folder of the run being fitted (given to `fit` by `run`); None trains without checkpoints or logs
        self.run_dir: Path | None = None
        self._checkpoint: dict | None = None
        self._checkpoint_loaded = False

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / records.CHECKPOINT

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files: it has a run folder and is the main process."""
        return self.run_dir is not None and distributed.is_main()

    def _log(self, logged: dict) -> None:
        """Append one evaluation (`{"stage", "epoch", "train_loss", "evaluation"}`) to metrics.jsonl, a line per row."""
        if not self.writes:
            return
        common = {"stage": logged["stage"], "epoch": logged["epoch"], "train_loss": logged["train_loss"]}
        lines = [common | {"row": row} | metrics for row, metrics in logged["evaluation"].items()]
        records.append_metrics(self.run_dir, lines)

    @property
    def context(self) -> RunContext:
        """The run facts a method may read between its stages and in its evaluation."""
        return RunContext(self.device, self.eval_batch_size)

    def optimizers(self, stage: Stage) -> list[Optimizer]:
        """One optimizer of `Trainer.optimizer` per parameter group of `stage`, in order (one over all of its
        modules' parameters if it names none), with the trainer's lr and weight decay unless the group has its own."""
        groups = stage.parameter_groups
        if groups is None:
            groups = [ParameterGroup(list(stage.modules.parameters()))]
        return [
            self.optimizer(
                group.params,
                lr=self.lr if group.lr is None else group.lr,
                weight_decay=self.weight_decay if group.weight_decay is None else group.weight_decay,
            )
            for group in groups
        ]

    def loop(self, stage: Stage) -> Loop:
        """`stage` as `train_loop` runs it: this trainer's epochs (unless the stage has its own), batch size,
        optimizers and a schedule of `Trainer.schedule` on each optimizer."""
        epochs = self.epochs if stage.epochs is None else stage.epochs
        optimizers = self.optimizers(stage)
        steps = stage.data.num_batches(self.batch_size, drop_last=stage.drop_last)
        schedulers = [self.schedule(optimizer, epochs, steps) for optimizer in optimizers]
        return Loop(
            stage.name, stage.modules, stage.step, stage.data, epochs, self.batch_size, optimizers, schedulers,
            stage.drop_last,
        )

    def fit(self, method: Trainable, dataset: Dataset, run_dir: Path | None = None) -> Evaluation:
        """Train `method` on `dataset`: each stage that `method.stages` yields, in order, resuming from the
        checkpoint in `run_dir` (None: no checkpoints, logs or artefacts, as in unit tests); then write the
        method's artefacts into `run_dir` (main process only). Return the last evaluation.

        A stage that a checkpoint of a later stage shows finished is skipped (the checkpoint restores the
        method); a method that computes something between two stages (JTT's error set) computes it from the
        restored modules.
        """
        self.run_dir = run_dir
        self._checkpoint, self._checkpoint_loaded = None, False
        context = self.context
        evaluation: Evaluation = {}
        for index, stage in enumerate(method.stages(dataset, context)):
            evaluation = self._fit_stage(index, stage, method, dataset, context) or evaluation
        if self.writes:
            for name, write in method.artefacts(dataset, context).items():
                write(self.run_dir / name)
        return evaluation

    def _fit_stage(
        self, index: int, stage: Stage, method: Trainable, dataset: Dataset, context: RunContext
    ) -> Evaluation:
        """Run `stage` (the method's `index`-th), resuming from the checkpoint if it holds this stage; return its
        last evaluation ({} if it is not evaluated or was finished before this start). `method` is everything
        the checkpoint must restore: it owns all modules."""
        loop = self.loop(stage)
        start = self._resume(loop, method, index)
        if start.finished:
            return {}
        last = start.evaluation
        kill_point("stage.start")
        evaluate = (lambda: method.evaluate(dataset, context)) if stage.evaluated else None

        def on_epoch_end(epoch: int, mean_loss: float) -> None:
            nonlocal last
            logged = None
            if evaluate is not None and ((epoch + 1) % self.eval_every == 0 or epoch + 1 == loop.epochs):
                last = evaluate()
                logged = {"stage": stage.name, "epoch": epoch + 1, "train_loss": mean_loss, "evaluation": last}
                if self.rule_checkpoints and self.writes:
                    rule_checkpoints.keep(self.run_dir, stage.name, epoch + 1, last, method)
            self._save_checkpoint(loop, method, index, epoch, logged)
            if logged is not None:
                self._log(logged)

        train_loop(
            loop, self.device, self.generator, start_epoch=start.epoch, on_epoch_end=on_epoch_end,
            progress=self.progress,
        )
        if not last and evaluate is not None:
            last = evaluate()  # resumed after the last epoch from a checkpoint without its evaluation
        kill_point("stage.end")
        return last

    def _save_checkpoint(self, loop: Loop, state: nn.Module, index: int, epoch: int, logged: dict | None) -> None:
        """Write the checkpoint (checkpoints.save keeps the previous one); `logged` is this epoch's evaluation."""
        if not self.writes:
            return
        checkpoint = {
            "stage_index": index,
            "stage": loop.name,
            "epoch": epoch,
            "logged": logged,
            "metrics_bytes": records.metrics_size(self.run_dir),
            "state": state.state_dict(),
            "optimizers": [o.state_dict() for o in loop.optimizers],
            "schedulers": [s.state_dict() for s in loop.schedulers],
            "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state()},
        }
        if torch.cuda.is_available():
            checkpoint["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        checkpoints.save(self.run_dir, checkpoint)

    def _resume(self, loop: Loop, state: nn.Module, index: int) -> _Start:
        """Where the method's `index`-th stage starts: after the checkpointed epoch if the checkpoint is of this
        stage (with the checkpoint's evaluation of it), finished if the checkpoint is of a later stage (which
        restores the whole state), else at epoch 0.

        The checkpoint is loaded once per run (checkpoints.load, which falls back to the previous one);
        metrics.jsonl is cut back to what it held at that checkpoint.
        """
        if self.run_dir is None:
            return _Start()
        if not self._checkpoint_loaded:
            self._checkpoint = checkpoints.load(self.run_dir, repair=self.writes)
            self._checkpoint_loaded = True
            if self._checkpoint is None and self.writes:
                records.truncate_metrics(self.run_dir, 0)  # lines of a start that never wrote a checkpoint
        checkpoint = self._checkpoint
        if checkpoint is None or checkpoint["stage_index"] < index:
            return _Start()
        state.load_state_dict(checkpoint["state"])
        if checkpoint["stage_index"] > index:
            return _Start(finished=True)
        if checkpoint["stage"] != loop.name:
            raise ConfigError(
                f"The checkpoint in {self.run_dir} is of stage '{checkpoint['stage']}', not '{loop.name}': the "
                "method's stages changed since it was written; delete the run folder or use --force."
            )
        self._checkpoint = None  # this stage holds it now: free its memory
        logged = checkpoint.get("logged")
        if self.writes and "metrics_bytes" in checkpoint:
            records.truncate_metrics(self.run_dir, checkpoint["metrics_bytes"])
            if logged is not None:
                self._log(logged)  # again: the process may have died between the checkpoint and the log
        elif logged is not None and not records.has_metrics(self.run_dir, logged["stage"], logged["epoch"]):
            self._log(logged)  # a checkpoint from before metrics_bytes: the last evaluation is re-logged if missing
        for optimizer, saved in zip(loop.optimizers, checkpoint["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(loop.schedulers, checkpoint["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        torch.set_rng_state(checkpoint["rng"]["torch"])
        self.generator.set_state(checkpoint["rng"]["generator"])
        if "cuda" in checkpoint["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])
        return _Start(checkpoint["epoch"] + 1, (logged or {}).get("evaluation") or {})
