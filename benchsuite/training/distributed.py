"""Data parallelism across processes: one process per GPU, launched by torchrun or by submitit's SLURM tasks.

Each process trains on its contiguous slice of every global batch (the global batch size stays
`Trainer.batch_size`), gathers the contrastive projections of all processes so that every loss sees the
global batch's negatives, and averages gradients before the optimizer step. Gathering keeps the gradient:
every process computes the same global loss, each process's slice receives the sum of all processes'
gradients for it (one all-reduce), and averaging over processes then gives exactly the single-process
gradient of the concatenated batch (tests/test_distributed.py checks it with 2 gloo processes on the CPU).

Gradients are all-reduced by the Trainer rather than through the DistributedDataParallel wrapper because a
method's step calls its submodules directly (two encoders, a probe, a dictionary), and DDP only synchronises
what runs through its wrapper's forward. Outside a distributed launch every function here is the identity.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor, nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Whether this process writes checkpoints, metrics and records (rank 0, or the only process)."""
    return rank() == 0


#: whether init_from_environment created the process group (and finish() may destroy it)
_owned = False


def init_from_environment(device: torch.device) -> bool:
    """Join the process group that torchrun (RANK, WORLD_SIZE, MASTER_ADDR) or submitit's SLURM tasks describe.

    Returns whether this process is one of several; a single process initialises nothing.
    """
    if dist.is_initialized():
        return is_distributed()
    if "SLURM_NTASKS" in os.environ and int(os.environ["SLURM_NTASKS"]) > 1 and "RANK" not in os.environ:
        import submitit

        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    global _owned
    dist.init_process_group(backend=backend)
    _owned = True
    return True


def finish() -> None:
    """Leave the process group that init_from_environment created, every process together (torch asks for
    destroy_process_group before exit); a group made by the caller is left alone.

    Without it, one torchrun run of the tests in about twenty ended with rank 1 aborted (SIGABRT) after both
    processes had finished their work, each tearing its group down at interpreter exit on its own.
    """
    global _owned
    if _owned and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    _owned = False


def barrier() -> None:
    """Wait until every process gets here; nothing to wait for in a single process."""
    if is_distributed():
        dist.barrier()


def _all_gather(tensor: Tensor) -> Tensor:
    """The rows of every process's `tensor`, concatenated in rank order (no gradient)."""
    pieces = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(pieces, tensor.contiguous())
    return torch.cat(pieces)


class _GatherWithGradient(torch.autograd.Function):
    """all_gather forward; backward sums every process's gradient of the gathered tensor, keeps this slice."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        ctx.size = tensor.shape[0]
        return _all_gather(tensor)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)  # all-reduce, not reduce-scatter: gloo has no reduce-scatter
        start = dist.get_rank() * ctx.size
        return grad[start : start + ctx.size]


def gather(tensor: Tensor) -> Tensor:
    """(world * B, ...) rows of every process in rank order, differentiable; `tensor` itself when alone."""
    return _GatherWithGradient.apply(tensor) if is_distributed() else tensor


def gather_detached(tensor: Tensor) -> Tensor:
    """Like `gather` without a gradient, e.g. for features that fill a dictionary."""
    return _all_gather(tensor.detach()) if is_distributed() else tensor


def shard() -> tuple[int, int] | None:
    """(rank, world size) for splitting every global batch into contiguous slices; None in a single process.

    Every process draws the same global order from the same seeded generator, and loads only its slice
    (datasets/base.py's `index_batches`), so file-backed data is decoded once, not once per process.
    """
    return (rank(), world_size()) if is_distributed() else None


def average_gradients(module: nn.Module) -> None:
    """Average the gradients of `module` over processes in one flat all-reduce."""
    if not is_distributed():
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def convert_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """SyncBatchNorm on CUDA, so that statistics cover the global batch as in one process; the CPU keeps
    per-process statistics (SyncBatchNorm runs only on GPUs)."""
    if is_distributed() and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module
