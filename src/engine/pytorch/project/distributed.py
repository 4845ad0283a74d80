"""torch.distributed for train.py: one process per device under torchrun, and differentiable collectives.

Every rank holds batchSize / world_size images of the global batch. Rank r's k-th image is position
k * world_size + r of the global batch (DistributedSampler's interleaving), so gather_batch returns the rows in the
order a single process would have them, and every loss sees exactly the batch of a one-process run.

Gradients: every rank computes the same loss on the gathered batch. The backward of a collective therefore sums
the incoming gradients over ranks (world_size times the gradient of one copy of the loss), and
DistributedDataParallel's average over ranks divides that by world_size again: the parameters get the gradient of
the one-process loss.
"""

import os

import torch
import torch.distributed as dist


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def rank():
    return dist.get_rank() if is_distributed() else 0


def setup(device_name=None):
    """Joins the process group torchrun describes (NCCL on GPUs, gloo on CPUs); returns this process's device.

    Without torchrun's environment (RANK, WORLD_SIZE, ...) it is a single process and joins nothing.
    """
    use_cuda = torch.cuda.is_available() if device_name is None else device_name.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no CUDA GPU; run on a GPU machine or pass --device cpu")
    if "WORLD_SIZE" not in os.environ:
        return torch.device("cuda" if use_cuda else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")


def cleanup():
    """Leaves the process group once every rank is done (rank 0 may still be writing the outputs)."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


class _AllGather(torch.autograd.Function):
    """[...] on every rank -> [world_size, ...]; backward: the summed gradient of this rank's slice."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


class _AllReduceSum(torch.autograd.Function):
    """The sum over ranks; backward: the gradients summed over ranks."""

    @staticmethod
    def forward(ctx, x):
        total = x.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad):
        total = grad.clone()
        dist.all_reduce(total)
        return total


def gather_batch(x):
    """Every rank's rows of x in global-batch order (rank r's row k becomes row k * world_size + r)."""
    if not is_distributed():
        return x
    parts = _AllGather.apply(x)  # [world_size, rows, ...]
    return parts.transpose(0, 1).reshape(-1, *x.shape[1:])


def all_reduce_sum(x):
    """The sum of x over ranks, with the gradient flowing back to every rank."""
    return _AllReduceSum.apply(x) if is_distributed() else x
