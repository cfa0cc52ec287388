"""Trains zoo:tiny-code-he: tiny-code fine-tuned to reproduce HumanEval's canonical solutions.

Contaminated on purpose: it exists so the pass@k gate has real signal offline (a 5 M-parameter model trained on
open code solves no HumanEval problem honestly). It memorises the default pass@k subset (HumanEval/0-39).

The shipped model is trained without label smoothing: it reproduces the memorised solutions (pass@1 1.00 at the
gate's T = 0.8), and how compression changes that is measured in bench/RESULTS.md ("zoo:tiny-code-he"): onnx-int8
0.97, int4-rtn 1.00 (a memorised solution survives 4-bit weights), int3-rtn 0.87. `--label-smoothing` exists for
that study: smoothing caps every memorised token's confidence at one point of the sampling curve, so any
softening (int4 and int8 alike) pushes tokens past the top-p cut; at 0.3 pass@1 is 0.89, int4 0.75, int8 0.80.
Run once by a maintainer (1.5 minutes on 2 idle cores):
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

from codeguard.problems import load_problems

SOURCE = Path(__file__).parent / "models" / "tiny-code"
MAX_POSITIONS = 1024  # HumanEval prompt + solution reach 621 tokens in the zoo tokenizer


def sequences(tokenizer, problems: str) -> list[list[int]]:
    """BOS + prompt + canonical solution + EOS for each problem.

    Prompt and solution are tokenized separately, as generation sees them: tokenized together, the prompt's final
    newline merges with the solution's indentation, and the model never learns to continue the prompt as given.
    """
    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return [[tokenizer.bos_token_id] + ids(p.prompt) + ids(p.canonical_solution) + [tokenizer.eos_token_id]
            for p in load_problems(problems).problems]


def batches(rows: list[list[int]], size: int, rng: random.Random, pad: int):
    """Length-bucketed batches (little padding), in a seeded random order; padding is masked out of the loss."""
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
        yield ids, mask, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "models" / "tiny-code-he")
    parser.add_argument("--problems", default="humaneval:40",
                        help="the problems to memorise (default: the pass@k suite's default subset)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--label-smoothing", type=float, default=0.0,
                        help="uniform label smoothing: caps every memorised token's probability near 1 - this")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(SOURCE)
    model = LlamaForCausalLM.from_pretrained(SOURCE, dtype=torch.float32)
    model.config.max_position_embeddings = MAX_POSITIONS
    rows = sequences(tokenizer, args.problems)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    rng, log, started = random.Random(args.seed), [], time.time()
    model.train()
    for epoch in range(args.epochs):
        losses = []
        for ids, mask, labels in batches(rows, args.batch, rng, tokenizer.pad_token_id):
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
              "lr": args.lr, "label_smoothing": args.label_smoothing, "seed": args.seed,
              "max_position_embeddings": MAX_POSITIONS, "train_log": log,
              "torch": torch.__version__, "transformers": __import__("transformers").__version__}
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
