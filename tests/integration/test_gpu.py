"""On a CUDA GPU (skipped without one): models are placed there, the corpus statistics reduce there and equal the
host's, top-K cache sets are drawn there, the distribution suites give the CPU's verdicts (with both models resident
and reference-first), and generation runs through the KV cache there. CI has no GPU; these run where one is lent (bench/RESULTS.md records
each such run)."""
import numpy as np
import pytest
import torch

from codeguard import load_model
from codeguard.humaneval.generation import GenerationConfig, generate_completions
from codeguard.humaneval.problems import load_problems
from codeguard.probes.corpus.pair_stats import pair_stats
from tests.helpers import gate_outcomes, recorded_gate, write_small_corpus

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none here)")]


def test_models_are_placed_on_the_gpu_in_their_own_or_the_requested_dtype():
    model = load_model("zoo:tiny-code", device="cuda")
    weights = next(model.model.parameters())
    assert model.details["device"] == "cuda:0" and weights.device.type == "cuda"
    assert weights.dtype == torch.float16  # `auto` keeps a checkpoint's own dtype on a GPU: the zoo ships float16
    assert next(load_model("zoo:tiny-code", device="cpu").model.parameters()).dtype == torch.float32  # CPU: float32
    assert next(load_model("zoo:tiny-code", device="cuda", dtype="bf16").model.parameters()).dtype == torch.bfloat16
    fp16 = next(load_model("zoo:tiny-code@fp16", device="cuda").model.parameters())
    assert fp16.dtype == torch.float16 and fp16.device.type == "cuda"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_reduction_on_the_gpu_gives_the_hosts_numbers_at_a_152k_vocabulary(dtype):
    generator = torch.Generator().manual_seed(0)
    ref = (torch.randn(300, 151_936, generator=generator) * 4).to(dtype)
    opt = (ref.float() + torch.randn(300, 151_936, generator=generator) * 0.05).to(dtype)
    host = pair_stats(ref, opt)
    gpu = pair_stats(ref.cuda(), opt.cuda())
    assert isinstance(gpu.kld, np.ndarray)  # only the per-position numbers come back
    np.testing.assert_allclose(gpu.kld, host.kld, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(gpu.lse_ref, host.lse_ref, rtol=1e-12)
    np.testing.assert_allclose(gpu.lse_opt, host.lse_opt, rtol=1e-12)
    assert np.array_equal(gpu.top_ref, host.top_ref) and np.array_equal(gpu.top_opt, host.top_opt)


def test_top_k_sets_and_tail_draws_are_made_on_the_gpu_and_estimate_the_hosts_kld():
    """A nightly job on a GPU reduces its logits to top sets and tail draws there (only those reach the host): the
    sets are the host's, the draws come from the tail, and the estimated KL of a candidate is the exact one's."""
    from codeguard.probes.reference_cache.reductions import top_k_kld, top_sets
    generator = torch.Generator().manual_seed(0)
    ref = torch.randn(200, 151_936, generator=generator) * 4
    opt = ref + torch.randn(200, 151_936, generator=generator) * 0.05
    logprobs = torch.log_softmax(ref.double(), dim=1)
    host = top_sets(logprobs, 0.999, 64, 593, torch.Generator().manual_seed(0))
    gpu = top_sets(logprobs.cuda(), 0.999, 64, 593, torch.Generator(device="cuda").manual_seed(0))
    assert np.array_equal(gpu.offsets, host.offsets) and np.array_equal(gpu.ids, host.ids)
    np.testing.assert_allclose(gpu.tail, host.tail, rtol=1e-12)
    for row in range(200):
        kept = set(gpu.ids[gpu.offsets[row]:gpu.offsets[row + 1]].tolist())
        assert not kept & set(gpu.tail_ids[row].tolist())
    exact = pair_stats(ref, opt).kld
    _, _, estimate = top_k_kld(gpu, opt.cuda())
    assert estimate.mean().item() == pytest.approx(exact.mean(), rel=0.01)


def _gate(pytester, corpus, pair, report, *args):
    result, _ = recorded_gate(pytester, corpus, pair, report, "--codeguard-ctx", "32", *args)
    return result, gate_outcomes(pytester.path / report)


def _close(gpu: dict, cpu: dict, rtol: float) -> None:
    """Every numeric gate metric of `gpu` within `rtol` of `cpu`'s (float32 kernels differ between devices)."""
    assert gpu.keys() == cpu.keys()
    for probe, metrics in cpu.items():
        for name, value in metrics.items():
            if isinstance(value, (int, float)):
                assert gpu[probe][name] == pytest.approx(value, rel=rtol, abs=1e-7), (probe, name)


def test_the_distribution_suites_on_the_gpu_give_the_cpu_verdicts(pytester, tmp_path):
    corpus = write_small_corpus(tmp_path)
    pair = "zoo:tiny-code,zoo:tiny-code@int4-rtn"
    result, _ = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@bf16", "accept", "--codeguard-update",
                      "--codeguard-device", "cpu")
    result.assert_outcomes(passed=4)
    result, (cpu_metrics, cpu_verdicts, _) = _gate(pytester, corpus, pair, "cpu", "--codeguard-device", "cpu")
    result.assert_outcomes(failed=4)
    # float32 on the GPU too (auto would keep the zoo's float16), so the two devices compute the same thing
    on_gpu = ("--codeguard-device", "cuda", "--codeguard-dtype", "float32")
    result, (gpu_metrics, gpu_verdicts, data) = _gate(pytester, corpus, pair, "gpu", *on_gpu)
    result.stdout.fnmatch_lines(["codeguard 0.1.0: * device=cuda:0 (dtype float32)*"])
    assert data["run"]["device"] == "cuda:0 (dtype float32)"
    assert gpu_verdicts == cpu_verdicts
    _close(gpu_metrics, cpu_metrics, rtol=1e-3)

    result, (first_metrics, first_verdicts, _) = _gate(pytester, corpus, pair, "first", *on_gpu,
                                                       "--codeguard-reference-first")
    result.stdout.fnmatch_lines(["*reference-first*"])
    assert first_verdicts == gpu_verdicts
    _close(first_metrics, gpu_metrics, rtol=1e-6)


def test_generation_on_the_gpu_follows_the_cpu():
    problems = load_problems("humaneval").problems[:6]
    greedy = GenerationConfig(n_samples=1, temperature=0.0, max_new_tokens=48)
    on_cpu = generate_completions(load_model("zoo:tiny-code-he", device="cpu"), problems, greedy, progress=False)
    gpu_model = load_model("zoo:tiny-code-he", device="cuda")
    on_gpu = generate_completions(gpu_model, problems, greedy, progress=False)
    same = sum(on_gpu[p.task_id] == on_cpu[p.task_id] for p in problems)
    assert same >= len(problems) - 1, (on_cpu, on_gpu)  # float32 kernels may flip one near-tie, not more
    sampled = generate_completions(gpu_model, problems, GenerationConfig(n_samples=5, max_new_tokens=48),
                                   progress=False)
    assert all(len(sampled[p.task_id]) == 5 for p in problems)
    assert sampled == generate_completions(gpu_model, problems, GenerationConfig(n_samples=5, max_new_tokens=48),
                                           progress=False)  # the same seed gives the same samples on the GPU
