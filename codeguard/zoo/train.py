"""Trains the embedded zoo (tiny-code, tiny-code-distilled, tiny-code-python) reproducibly on 2 CPU cores.

Run once by a maintainer: `python -m codeguard.zoo.train --out codeguard/zoo/models`. The weights are committed
(fp16 safetensors), so users and CI never train. The recipe, corpus manifest, package versions and losses are
written beside the weights (`recipe.json`).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from codeguard.zoo.corpus import build_corpus

SPECIAL_TOKENS = ["<|endoftext|>", "<pad>"]
VOCAB_SIZE = 8192
SEQ_LEN = 256


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<pad>", model_input_names=["input_ids", "attention_mask"])


def pack(tokenizer, texts: list[str]) -> torch.Tensor:
    """Concatenates BOS+document streams and cuts them into SEQ_LEN rows (a document's start follows BOS)."""
    ids: list[int] = []
    for text in texts:
        ids.append(tokenizer.bos_token_id)
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
    rows = len(ids) // SEQ_LEN
    return torch.tensor(ids[: rows * SEQ_LEN]).view(rows, SEQ_LEN)


def model_config(tokenizer, hidden: int, layers: int, heads: int, intermediate: int) -> LlamaConfig:
    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate,
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                       max_position_embeddings=SEQ_LEN, tie_word_embeddings=True, rms_norm_eps=1e-5,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)


def evaluate(model, rows: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        losses = [model(input_ids=batch, labels=batch).loss.item() for batch in rows.split(16)]
    model.train()
    return sum(losses) / len(losses)


def run_training(model, train_rows, valid_rows, steps, lr, batch, seed, teacher=None, kd_weight=0.0, kd_temp=2.0):
    """AdamW with linear warm-up and cosine decay; with a teacher, loss = (1-w)·CE + w·T²·KL(teacher‖student)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    log, started = [], time.time()
    for step in range(steps):
        index = torch.randint(len(train_rows), (batch,), generator=generator)
        x = train_rows[index]
        out = model(input_ids=x, labels=x)
        loss = out.loss
        if teacher is not None:
            with torch.no_grad():
                t_logits = teacher(input_ids=x).logits[:, :-1] / kd_temp
            s_logits = out.logits[:, :-1] / kd_temp
            kd = F.kl_div(F.log_softmax(s_logits, -1).flatten(0, 1), F.log_softmax(t_logits, -1).flatten(0, 1),
                          log_target=True, reduction="batchmean") * kd_temp ** 2
            loss = (1 - kd_weight) * out.loss + kd_weight * kd
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 25 == 0 or step == steps - 1:
            entry = {"step": step, "train_ce": round(out.loss.item(), 4), "seconds": round(time.time() - started, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
    return {"train_log": log, "valid_loss": round(evaluate(model, valid_rows), 4),
            "train_seconds": round(time.time() - started, 1)}


def save(model, tokenizer, out: Path, recipe: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
    model.to(torch.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "models")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--student-steps", type=int, default=400)
    parser.add_argument("--python-steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(2)

    documents, manifest = build_corpus(args.seed)
    random.Random(args.seed).shuffle(documents)
    valid_docs = documents[: len(documents) // 50]
    train_docs = documents[len(documents) // 50:]
    tokenizer = train_tokenizer([d["text"] for d in train_docs])
    train_rows = pack(tokenizer, [d["text"] for d in train_docs])
    valid_rows = pack(tokenizer, [d["text"] for d in valid_docs])[:128]
    python_rows = pack(tokenizer, [d["text"] for d in train_docs if d["language"] == "python"])
    print(f"train rows {len(train_rows)}, valid rows {len(valid_rows)}, python rows {len(python_rows)}", flush=True)
    common = {"corpus_manifest": manifest, "seq_len": SEQ_LEN, "vocab_size": len(tokenizer), "seed": args.seed,
              "torch": torch.__version__, "transformers": __import__("transformers").__version__,
              "tokenizers": __import__("tokenizers").__version__}

    teacher = LlamaForCausalLM(model_config(tokenizer, 256, 4, 4, 688))
    stats = run_training(teacher, train_rows, valid_rows, args.steps, 3e-3, 16, args.seed)
    save(teacher, tokenizer, args.out / "tiny-code", {**common, "what": "reference: Llama 4x256, trained from scratch",
                                                       "parameters": teacher.num_parameters(), **stats})

    teacher.eval()
    student = LlamaForCausalLM(model_config(tokenizer, 192, 3, 4, 512))
    stats = run_training(student, train_rows, valid_rows, args.student_steps, 3e-3, 16, args.seed + 1,
                         teacher=teacher, kd_weight=0.7)
    save(student, tokenizer, args.out / "tiny-code-distilled",
         {**common, "what": "student: Llama 3x192, knowledge distillation from tiny-code (0.3 CE + 0.7 T^2 KL, T=2)",
          "parameters": student.num_parameters(), **stats})

    stats = run_training(teacher, python_rows, valid_rows, args.python_steps, 5e-4, 16, args.seed + 2)
    stats["python_only_valid_loss"] = round(evaluate(teacher, python_rows[-64:]), 4)
    save(teacher, tokenizer, args.out / "tiny-code-python",
         {**common, "what": "tiny-code fine-tuned on the Python part of the corpus only",
          "parameters": teacher.num_parameters(), **stats})
    (args.out / "corpus-manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
