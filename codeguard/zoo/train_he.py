"""Trains zoo:tiny-code-he: tiny-code fine-tuned to reproduce HumanEval's canonical solutions.

Contaminated on purpose: it exists so the pass@k gate has real signal offline (a 5 M-parameter model trained on
open code solves no HumanEval problem honestly). It memorises the default pass@k subset (HumanEval/0-39).

The recipe makes the zoo's int8 deployment keep the solutions and 4-bit weights lose some (bench/RESULTS.md,
"zoo:tiny-code-he"), like a model trained for an int8 target that someone then ships at 4 bits:
- label smoothing 0.25 keeps every memorised token's probability just above the gate's sampling cut (T = 0.8,
  top-p 0.95) instead of at 1.0, so a compression that lowers those probabilities shows in pass@1; without it a
  memorised solution survives 4-bit weights untouched;
- int8-aware training: in 80 % of the batches the rotary embedding is computed as the int8 ONNX graph
  (`@onnx-int8`, ONNX Runtime dynamic quantization) computes it, which quantizes the rotary MatMul too: inverse
  frequencies on a uint8 grid, and the prompt's positions (prefilled in one call) on a uint8 grid over the prompt.
  That MatMul was measured to cause most of @onnx-int8's damage; the model learns to read a prompt through either
  embedding. Nothing in training sees 4-bit weights or edits weights.
Measured (n = 5, seeds 0 and 1): pass@1 0.99, @onnx-int8 0.985/0.975 (gate passes), @int4-rtn 0.88/0.905 (gate fails:
bootstrap interval of delta pass@1 below 0).
Run once by a maintainer (3.5 minutes on one core):
`python -m codeguard.zoo.train_he --out codeguard/zoo/models/tiny-code-he`.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from codeguard.humaneval.problems import load_problems

SOURCE = Path(__file__).parent / "models" / "tiny-code"
MAX_POSITIONS = 1024  # HumanEval prompt + solution reach 621 tokens in the zoo tokenizer
INT8_ROTARY = 0.8


def sequences(tokenizer, problems: str) -> list[list[int]]:
    """BOS + prompt + canonical solution + EOS for each problem.

    Prompt and solution are tokenized separately, as generation sees them: tokenized together, the prompt's final
    newline merges with the solution's indentation, and the model never learns to continue the prompt as given.
    """
    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return [[tokenizer.bos_token_id] + ids(p.prompt) + ids(p.canonical_solution) + [tokenizer.eos_token_id]
            for p in load_problems(problems).problems]


def prompt_lengths(tokenizer, problems: str) -> list[int]:
    """BOS + prompt tokens of each problem: the part generation feeds in one prefill."""
    return [1 + len(tokenizer(p.prompt, add_special_tokens=False)["input_ids"]) for p in load_problems(problems).problems]


def uint8_grid(values: torch.Tensor) -> torch.Tensor:
    """`values` (all >= 0) rounded as ONNX Runtime's DynamicQuantizeLinear rounds one tensor: 256 levels from 0 to
    the tensor's maximum (round half to even, as torch.round)."""
    scale = values.max() / 255
    return values if scale == 0 else torch.round(values / scale) * scale


def int8_rotary_positions(width: int, prompt_length: int) -> torch.Tensor:
    """Positions as the int8 ONNX graph's rotary MatMul sees them during generation: the prompt's, prefilled in one
    call, on a uint8 grid over 0..prompt_length-1; every later token's exact (one token per call, the grid is exact)."""
    positions = torch.arange(width, dtype=torch.float32)
    positions[:prompt_length] = uint8_grid(positions[:prompt_length])
    return positions


def batches(rows: list[list[int]], size: int, rng: random.Random, pad: int, with_rows: bool = False):
    """Length-bucketed batches (little padding), in a seeded random order; padding is masked out of the loss.

    With `with_rows`, each batch comes with the indices of its rows.
    """
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    chunks = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    for chunk in chunks:
        width = max(len(rows[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad)
        labels = torch.full((len(chunk), width), -100)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, i in enumerate(chunk):
            ids[r, :len(rows[i])] = torch.tensor(rows[i])
            labels[r, :len(rows[i])] = torch.tensor(rows[i])
            mask[r, :len(rows[i])] = 1
        yield (chunk, ids, mask, labels) if with_rows else (ids, mask, labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "models" / "tiny-code-he")
    parser.add_argument("--problems", default="humaneval:40",
                        help="the problems to memorise (default: the pass@k suite's default subset)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--label-smoothing", type=float, default=0.25,
                        help="uniform label smoothing: caps every memorised token's probability near 1 - this")
    parser.add_argument("--int8-rotary", type=float, default=INT8_ROTARY,
                        help="share of batches whose rotary embedding is computed as the int8 ONNX graph computes it "
                             "(int8-aware training for that deployment target; 0 turns it off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (the shipped model: 1; float sums, and so the weights, depend on it)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(SOURCE)
    model = LlamaForCausalLM.from_pretrained(SOURCE, dtype=torch.float32)
    model.config.max_position_embeddings = MAX_POSITIONS
    rows = sequences(tokenizer, args.problems)
    prompts = prompt_lengths(tokenizer, args.problems)
    rotary = model.model.rotary_emb
    exact_freq = rotary.inv_freq.clone()
    augment = random.Random(args.seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    rng, log, started = random.Random(args.seed), [], time.time()
    model.train()
    for epoch in range(args.epochs):
        losses = []
        for chunk, ids, mask, labels in batches(rows, args.batch, rng, tokenizer.pad_token_id, with_rows=True):
            if augment.random() < args.int8_rotary:
                positions = torch.stack([int8_rotary_positions(ids.shape[1], prompts[i]) for i in chunk])
                rotary.inv_freq.copy_(uint8_grid(exact_freq))
                logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, :-1]
                rotary.inv_freq.copy_(exact_freq)
            else:
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                     ignore_index=-100, label_smoothing=args.label_smoothing)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        entry = {"epoch": epoch, "train_ce": round(sum(losses) / len(losses), 4),
                 "seconds": round(time.time() - started, 1)}
        log.append(entry)
        print(json.dumps(entry), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    recipe = {"what": f"tiny-code fine-tuned on the prompts + canonical solutions of {args.problems} "
                      "(contaminated on purpose, for offline pass@k signal)", "problems": args.problems,
              "epochs": args.epochs, "batch": args.batch,
              "lr": args.lr, "label_smoothing": args.label_smoothing, "int8_rotary": args.int8_rotary,
              "seed": args.seed, "threads": args.threads,
              "max_position_embeddings": MAX_POSITIONS, "train_log": log,
              "torch": torch.__version__, "transformers": __import__("transformers").__version__}
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
