"""Per-position statistics of two models' logits over the same positions, in float64, without full log-softmaxes.

KL(ref‖opt) at a position is Σ p_r (lr − lo) with lr = zr − lse_r and lo = zo − lse_o. Shifting both rows by their
maximum (mr, mo) and writing er = exp(zr − mr), sr = Σ er (likewise for opt):

    KL = Σ er · ((zr − mr) − (zo − mo)) / sr − log sr + log so

which needs one float64 exp per logit and model and no normalised (positions × vocabulary) matrix. Identical logits
give exactly 0, and each row's numbers do not depend on the chunk it is in.

Where the reduction runs (`reduction_device`):
- Logits on the CPU are reduced by numpy, on one thread, in chunks of about 262,144 logits (32 rows of the zoo's
  8,192-token vocabulary, one row of a 152 k one). The models' forward passes run in threads of their own beside it
  and already fill the cores: torch's ops on the same chunks took 1.7-1.9x the CPU time of numpy's (each op
  splits one row across OpenMP threads that compete with the forward passes), numpy's single-threaded loops
  0.46 CPU-s a 511 x 151,936 window against torch's 0.85 (bench/RESULTS.md). Smaller chunks keep temporaries in cache;
  a fixed 32 rows of a 49,152-token vocabulary made every float64 temporary 12 MB, fresh pages from the kernel each
  chunk, and cost 3-4x more per logit (bench/bench_llama_parity.py).
- Logits on a CUDA GPU are reduced there by torch in float64 chunks of about 16 M logits, and only the per-row results
  (5 numbers a position) come back to the host: no positions × vocabulary copy leaves the GPU. When one model runs on
  the GPU and the other on the CPU (an ONNX Runtime or GGUF candidate), the CPU side's chunks go to the GPU.
- MPS has no float64: its logits are reduced on the CPU.

Top-1 tokens come from the float32 logits (log-softmax is monotone, so the order is the same), and a token's
log-probability is `z[token] − lse` in float64: the same numbers `log_softmax(z, dtype=float64)` gives, to ~1e-15.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    import torch

# A backend's logits: numpy arrays from llama.cpp (so a GGUF pair's corpus probes never import torch), torch tensors
# from transformers and ONNX Runtime models (on the device that scored them).
Logits = Union[np.ndarray, "torch.Tensor"]

LOGITS_PER_CHUNK = 32 * 8192
DEVICE_LOGITS_PER_CHUNK = 1 << 24  # float64 temporaries of 128 MiB each on a GPU


def chunk_rows(vocab: int, logits_per_chunk: int = LOGITS_PER_CHUNK) -> int:
    """Rows per chunk for a vocabulary: `logits_per_chunk` logits, at least one row."""
    return max(1, logits_per_chunk // max(1, vocab))


@dataclass
class PairStats:
    """Per position: both models' log-normalisers and top-1 tokens, and KL(ref‖opt) in nats (host arrays)."""

    lse_ref: np.ndarray   # (n,) float64
    lse_opt: np.ndarray
    top_ref: np.ndarray   # (n,) int64
    top_opt: np.ndarray
    kld: np.ndarray       # (n,) float64, >= 0


def reduction_device(*logits: Logits) -> "torch.device":
    """Where logits are reduced: the first CUDA device among them, else the CPU (MPS has no float64)."""
    import torch
    for tensor in logits:
        if not isinstance(tensor, np.ndarray) and tensor.device.type == "cuda":
            return tensor.device
    return torch.device("cpu")


def on_host(*logits: Logits) -> bool:
    """True when every matrix is a numpy array, which numpy reduces without importing torch."""
    return all(isinstance(x, np.ndarray) for x in logits)


def pair_stats(ref_logits: Logits, opt_logits: Logits, rows: int | None = None) -> PairStats:
    """Statistics of two (n, vocab) logit matrices that predict the same n positions, reduced where they are."""
    _check_shapes(ref_logits, opt_logits)
    if not on_host(ref_logits, opt_logits):
        device = reduction_device(ref_logits, opt_logits)
        if device.type != "cpu":
            return device_pair_stats(ref_logits, opt_logits, device, rows)
    rows = rows or chunk_rows(ref_logits.shape[-1])
    parts = [_host_chunk(host_array(ref_logits[i:i + rows]), host_array(opt_logits[i:i + rows]))
             for i in range(0, ref_logits.shape[0], rows)]
    if not parts:
        return _empty()
    return PairStats(*(np.concatenate(column) for column in zip(*parts)))


def device_pair_stats(ref_logits: Logits, opt_logits: Logits, device: "torch.device | str",
                      rows: int | None = None) -> PairStats:
    """pair_stats computed by torch on `device` (a GPU; the CPU in tests), results on the host. A numpy side (a GGUF
    or host-scored model beside a GPU one) goes to the device chunk by chunk."""
    import torch
    _check_shapes(ref_logits, opt_logits)
    device = torch.device(device)
    rows = rows or chunk_rows(ref_logits.shape[-1], DEVICE_LOGITS_PER_CHUNK if device.type != "cpu"
                              else LOGITS_PER_CHUNK)
    parts = [_device_chunk(torch.as_tensor(ref_logits[i:i + rows]).to(device),
                           torch.as_tensor(opt_logits[i:i + rows]).to(device))
             for i in range(0, ref_logits.shape[0], rows)]
    if not parts:
        return _empty()
    return PairStats(*(torch.cat(column).cpu().numpy() for column in zip(*parts)))


def _check_shapes(ref_logits: Logits, opt_logits: Logits) -> None:
    if ref_logits.shape != opt_logits.shape:
        raise ValueError(f"logit shapes differ: {tuple(ref_logits.shape)} vs {tuple(opt_logits.shape)}")


def _empty() -> PairStats:
    empty_f, empty_i = np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64)
    return PairStats(empty_f, empty_f, empty_i, empty_i, empty_f)


def host_array(logits: Logits) -> np.ndarray:
    """A CPU view of the logits (a copy only from a device without float64, e.g. MPS, or of bfloat16 logits, which
    numpy has no type for: widened to float32, exactly)."""
    if isinstance(logits, np.ndarray):
        return logits
    import torch
    logits = logits.detach().cpu()
    return (logits.float() if logits.dtype == torch.bfloat16 else logits).numpy()


def _host_chunk(zr: np.ndarray, zo: np.ndarray):
    max_r, top_r, shifted_r = _host_shifted(zr)
    max_o, top_o, shifted_o = _host_shifted(zo)
    gap = shifted_r - shifted_o              # lr − lo up to a per-row constant
    sum_r = np.exp(shifted_r, out=shifted_r).sum(axis=1)   # shifted_r now holds er
    sum_o = np.exp(shifted_o, out=shifted_o).sum(axis=1)
    log_r, log_o = np.log(sum_r), np.log(sum_o)
    kld = np.einsum("ij,ij->i", shifted_r, gap) / sum_r - log_r + log_o
    return max_r + log_r, max_o + log_o, top_r, top_o, np.maximum(kld, 0.0)


def _host_shifted(z: np.ndarray):
    """Per row: the maximum (float64), its index, and the row minus it in float64."""
    top = z.argmax(axis=1)
    peak = z[np.arange(z.shape[0]), top].astype(np.float64)
    return peak, top.astype(np.int64), np.subtract(z, peak[:, None], dtype=np.float64)


def exp_rows(z: Logits):
    """(max, top-1, exp(z − max), Σ exp(z − max), its log) per row of float32 logits, in float64, computed as pair_stats
    computes them (so a log-normaliser max + log Σ is bit for bit pair_stats's), on the reduction device (tensors:
    the reference cache's top-K estimator works in torch)."""
    import torch
    device = reduction_device(z)
    if device.type == "cpu":
        peak, top, shifted = _host_shifted(host_array(z))
        sums = np.exp(shifted, out=shifted).sum(axis=1)
        return tuple(torch.from_numpy(x) for x in (peak, top, shifted, sums, np.log(sums)))
    with torch.inference_mode():
        peak, top = z.max(dim=1)
        peak = peak.double()
        shifted = z.double().sub_(peak[:, None]).exp_()
        sums = shifted.sum(dim=1)
        return peak, top, shifted, sums, sums.log()


def _device_chunk(zr: "torch.Tensor", zo: "torch.Tensor"):
    import torch
    with torch.inference_mode():
        max_r, top_r = zr.max(dim=1)
        max_o, top_o = zo.max(dim=1)
        max_r, max_o = max_r.double(), max_o.double()
        shifted_r = zr.double().sub_(max_r[:, None])
        shifted_o = zo.double().sub_(max_o[:, None])
        gap = shifted_r - shifted_o              # lr − lo up to a per-row constant
        sum_r = shifted_r.exp_().sum(dim=1)      # shifted_r now holds er
        sum_o = shifted_o.exp_().sum(dim=1)
        log_r, log_o = sum_r.log(), sum_o.log()
        kld = (torch.linalg.vecdot(shifted_r, gap) / sum_r).sub_(log_r).add_(log_o).clamp_(min=0.0)
        return max_r + log_r, max_o + log_o, top_r, top_o, kld


def token_logprobs(logits: Logits, lse: np.ndarray, rows, tokens) -> np.ndarray:
    """float64 log-probabilities of `tokens` at `rows` (index arrays of equal length); the logits may be on any
    device, only the picked ones come to the host."""
    lse = np.asarray(lse)
    if isinstance(logits, np.ndarray):
        rows, tokens = np.asarray(rows, dtype=np.int64), np.asarray(tokens, dtype=np.int64)
        return logits[rows, tokens].astype(np.float64) - lse[rows]
    import torch
    rows = torch.as_tensor(rows, dtype=torch.long)
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    picked = logits[rows.to(logits.device), tokens.to(logits.device)].cpu().double()
    return picked.numpy() - lse[rows.numpy()]
