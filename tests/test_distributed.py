"""Two gloo processes on the CPU against one process on the concatenated batch: the contrastive losses see
the global batch (same loss) and the averaged gradients equal the single-process gradients; a training
epoch through the Trainer's loop ends with the same parameters."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from benchsuite.methods.dcl import DCL
from benchsuite.methods.hcl import HCL
from benchsuite.methods.simclr import SimCLR
from benchsuite.methods.wcl import WCL
from benchsuite.models.backbones import Backbone
from benchsuite.training import distributed
from benchsuite.training.trainer import Stage, Trainer, train_loop
from tests.test_trainer import _regression_split

WORLD = 2
METHODS = {"SimCLR": SimCLR, "DCL": DCL, "HCL": HCL, "WCL": WCL}


class _Flat(Backbone):
    feature_dim = 16

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3 * 4 * 4, self.feature_dim)

    def forward(self, x):
        return torch.relu(self.layer(x.flatten(1)))


class _Data:
    num_classes = 3


def _method(name: str) -> nn.Module:
    torch.manual_seed(0)
    method = METHODS[name]()
    method.setup(_Flat, _Data())
    # Batch norm keeps per-process statistics on the CPU (SyncBatchNorm needs GPUs): leave it out here.
    for head in (getattr(method, "head", None), getattr(method, "head_b", None)):
        if head is not None:
            head[1] = nn.Identity()
    return method.double()


def _views(batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return (torch.randn(batch, 3, 4, 4, generator=generator, dtype=torch.float64),
            torch.randn(batch, 3, 4, 4, generator=generator, dtype=torch.float64))


def _loss_and_grads(method, v1, v2):
    method.zero_grad()
    loss = method.views_loss(torch.cat([v1, v2]))
    loss.backward()
    distributed.average_gradients(method)
    return loss.detach(), {name: p.grad.clone() for name, p in method.named_parameters() if p.grad is not None}


def _train_epoch():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)

    def step(batch):
        prediction = model(batch["image"].flatten(1).float() / 255).squeeze(1)
        return ((prediction - batch["label"] / 255) ** 2).mean()

    trainer = Trainer(batch_size=16, optimizer=torch.optim.SGD, lr=0.1, progress=False, device="cpu")
    trainer.generator.manual_seed(0)
    loop = trainer.loop(Stage("train", model, step, _regression_split(), epochs=2))
    train_loop(loop, torch.device("cpu"), trainer.generator)
    return model.weight.detach().clone()


def _worker(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    assert distributed.init_from_environment(torch.device("cpu"))
    v1, v2 = _views()
    share = v1.shape[0] // WORLD
    mine = slice(rank * share, (rank + 1) * share)
    results = {name: _loss_and_grads(_method(name), v1[mine], v2[mine]) for name in METHODS}
    results["epoch"] = _train_epoch()
    distributed.finish()
    results["left_the_group"] = not dist.is_initialized()
    torch.save(results, os.path.join(folder, f"rank{rank}.pt"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def per_rank(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranks")
    mp.start_processes(_worker, args=(_free_port(), str(folder)), nprocs=WORLD, join=True, start_method="spawn")
    return [torch.load(folder / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD)]


@pytest.mark.parametrize("name", METHODS)
def test_loss_and_gradients_equal_one_process_on_the_concatenated_batch(per_rank, name):
    expected_loss, expected_grads = _loss_and_grads(_method(name), *_views())
    for rank in range(WORLD):
        loss, grads = per_rank[rank][name]
        torch.testing.assert_close(loss, expected_loss, rtol=1e-10, atol=1e-12)
        assert grads.keys() == expected_grads.keys()
        for key, grad in grads.items():
            torch.testing.assert_close(grad, expected_grads[key], rtol=1e-8, atol=1e-10, msg=f"{name} {key}")


def test_a_training_epoch_over_two_processes_matches_one_process(per_rank):
    expected = _train_epoch()
    for rank in range(WORLD):
        torch.testing.assert_close(per_rank[rank]["epoch"], expected, rtol=1e-5, atol=1e-6)


def test_each_process_takes_its_contiguous_slice_of_the_same_global_batch():
    split = _regression_split(n=12)
    whole = [b["label"] for b in split.batches(6, shuffle=True, generator=torch.Generator().manual_seed(3))]
    parts = [[b["label"] for b in split.batches(6, shuffle=True, generator=torch.Generator().manual_seed(3),
                                                shard=(rank, 3))] for rank in range(3)]
    for step, batch in enumerate(whole):
        torch.testing.assert_close(torch.cat([parts[rank][step] for rank in range(3)]), batch)
    with pytest.raises(ValueError, match="cannot be split evenly over 4 processes"):
        next(split.batches(6, shard=(0, 4)))


def test_finish_leaves_the_group_that_init_from_environment_made(per_rank):
    assert [results["left_the_group"] for results in per_rank] == [True] * WORLD


def test_the_identity_without_a_process_group():
    tensor = torch.arange(6.0).reshape(3, 2)
    assert distributed.gather(tensor) is tensor and distributed.shard() is None
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)


@pytest.mark.slow
def test_torchrun_runs_an_experiment_over_two_processes_and_rank_0_writes_one_record(tmp_path):
    """Then `--force` runs it again from scratch: rank 0 alone deletes the folder while rank 1 waits, so neither
    resumes from the old checkpoint nor deletes what the other has begun to write."""
    from tests.conftest import GIN, REPO, TINY, TINY_DATA

    params = [arg for binding in [*TINY, *TINY_DATA["SyntheticBackgrounds"]] for arg in ("--gin-param", binding)]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(_free_port()), "-m", "benchsuite", "run", "--gin", str(GIN / "simclr_synthetic_backgrounds.gin"),
               *params, "--results", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = tmp_path.glob("*/*/record.json")
    assert json.loads(record.read_text())["status"] == "finished"
    assert done.stdout.count("record:") == 1
    first = (record.parent / "metrics.jsonl").read_text()

    command[command.index("--master_port") + 1] = str(_free_port())
    again = subprocess.run([*command, "--force"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads(record.read_text())
    assert rerun["status"] == "finished" and rerun["resumes"] == 0
    assert (record.parent / "metrics.jsonl").read_text() == first  # every evaluation once, as the first time
