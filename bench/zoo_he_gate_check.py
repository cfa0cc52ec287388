"""The pass@k gate's verdict on a HumanEval-memorising model's derivations, before any baseline exists.

    python -m codeguard.zoo.train_he --out /tmp/he
    python bench/zoo_he_gate_check.py /tmp/he [--variants @onnx-int8,@int4-rtn,@int3-rtn] [--seed 0]

Runs the pass@k probe with the gate's settings (humaneval:40, n = 5, T = 0.8, top-p 0.95, 256 new tokens, the
sandbox) for the model and each derivation, and applies the gate's rules: the paired checks against the model
(bootstrap interval of Δpass@k, exact McNemar) and, for every variant after the first, the baseline tolerance
against the first variant's result (the one a baseline would accept). Used to choose zoo:tiny-code-he's recipe.
"""
from __future__ import annotations

import argparse
import time

from codeguard import load_model
from codeguard.gating.rules import PASS_AT_K_RULES
from codeguard.humaneval.problems import load_problems
from codeguard.probes.pass_at_k import PassAtKConfig, executed_samples, summarize
from codeguard.sandbox.executor import Executor, SandboxConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="spec of the model (a train_he output folder or zoo entry)")
    parser.add_argument("--variants", default="@onnx-int8,@int4-rtn",
                        help="derivation suffixes; the first plays the accepted baseline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = PassAtKConfig(seed=args.seed)
    problems = load_problems(config.problems)
    atol = PASS_AT_K_RULES["pass@*"].atol
    with Executor(SandboxConfig(timeout=config.timeout, workers=config.workers)) as executor:
        ref = load_model(args.model)
        ref_samples = executed_samples(ref, problems, config, executor, progress=False)
        baseline = None
        for suffix in args.variants.split(","):
            started = time.perf_counter()
            opt = load_model(args.model + suffix)
            result = summarize(ref, opt, config, problems, {"ref": ref_samples,
                                                            "opt": executed_samples(opt, problems, config, executor,
                                                                                    progress=False)},
                               executor.isolation)
            m = result.metrics
            failures = [f"ci_high_delta_pass@{k}" for k in config.resolved_ks() if m[f"ci_high_delta_pass@{k}"] < 0]
            if m.get("mcnemar_p@1", 1.0) < config.alpha:
                failures.append("mcnemar_p@1")
            if baseline is None:
                baseline = m
            else:
                failures += [name for name in baseline if name.startswith(("pass@", "delta_pass@"))
                             and m[name] < baseline[name] - atol]
            lost = sum(p["opt_correct"] < p["ref_correct"] for p in result.per_problem)
            print(f"{args.model + suffix}: pass@1 ref {m['ref_pass@1']:.3f} opt {m['pass@1']:.3f} "
                  f"(delta {m['delta_pass@1']:+.3f}, interval high {m['ci_high_delta_pass@1']:+.3f}, McNemar p "
                  f"{m.get('mcnemar_p@1', float('nan')):.3f}), pass@5 opt {m['pass@5']:.3f}, problems with samples "
                  f"lost {lost}, gate {'FAILS: ' + ', '.join(failures) if failures else 'passes'} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
