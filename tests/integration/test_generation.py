"""Completion generation: stop sequences, seeding, batching, both backends."""
import pytest

from codeguard import load_model
from codeguard.errors import ProbeInputError
from codeguard.humaneval.generation import GenerationConfig, generate_completions, problem_seed, truncate
from codeguard.humaneval.problems import load_problems


@pytest.mark.parametrize("text, expected", [
    ("    return x\n\ndef other():\n    pass", "    return x\n"),
    ("    return x\nif __name__ == '__main__':", "    return x"),
    ("    return x\n# trailing comment", "    return x"),
    ("    return x  # fine inline\n    y = 1", "    return x  # fine inline\n    y = 1"),
    ("", ""),
])
def test_truncation_at_the_humaneval_stop_sequences(text, expected):
    assert truncate(text) == expected


def test_problem_seeds_do_not_depend_on_order():
    assert problem_seed(0, "HumanEval/3") == problem_seed(0, "HumanEval/3") != problem_seed(1, "HumanEval/3")


@pytest.mark.parametrize("config, fragment", [
    (GenerationConfig(n_samples=0), "n_samples >= 1"), (GenerationConfig(temperature=-1), "temperature"),
    (GenerationConfig(top_p=0), "top_p"), (GenerationConfig(temperature=0, n_samples=3), "greedy"),
])
def test_bad_generation_configs(config, fragment):
    with pytest.raises(ProbeInputError, match=fragment):
        config.check()


@pytest.mark.slow
def test_seeded_batched_and_identical_across_backends():
    problems = load_problems("humaneval:3").problems
    config = GenerationConfig(n_samples=3, max_new_tokens=24, seed=5)
    torch_model = load_model("zoo:tiny-code")
    first = generate_completions(torch_model, problems, config, progress=False)
    assert set(first) == {p.task_id for p in problems} and all(len(v) == 3 for v in first.values())
    assert generate_completions(torch_model, problems, config, progress=False) == first
    # one problem alone gets the same samples as in the batch of problems
    assert generate_completions(torch_model, problems[1:2], config, progress=False)[problems[1].task_id] == \
        first[problems[1].task_id]
    assert generate_completions(load_model("zoo:tiny-code@onnx"), problems, config, progress=False) == first
    for samples in first.values():
        assert all(not any(stop in s for stop in config.stop) for s in samples)


@pytest.mark.slow
def test_completions_do_not_depend_on_how_many_problems_share_a_batch():
    # Each sample draws from its own stream, seeded with (problem seed, index): batch size and composition change
    # nothing for PyTorch on the CPU. (ONNX Runtime keeps one problem per call: its dynamic int8 is batch-dependent.)
    problems = load_problems("humaneval:4").problems
    model = load_model("zoo:tiny-code")
    assert model.samples_across_problems and not load_model("zoo:tiny-code@onnx").samples_across_problems
    runs = [generate_completions(model, problems, GenerationConfig(n_samples=3, max_new_tokens=20, seed=2,
                                                                   batch_rows=rows), progress=False)
            for rows in (3, 7, 64)]
    assert runs[0] == runs[1] == runs[2]
    assert len({c for v in runs[0].values() for c in v}) > 4  # sampled, not one text repeated


@pytest.mark.slow
def test_rows_finish_on_their_own_and_leave_the_others_unchanged():
    model = load_model("zoo:tiny-code")
    tok = model.tokenizer
    contexts = [tok("def add(a, b):\n    return")["input_ids"], tok("import os\n")["input_ids"],
                tok("class Stack:\n    def")["input_ids"]]
    seeds = [(11, 0), (11, 1), (11, 2)]
    batch = model.sample(contexts, max_new_tokens=24, temperature=0.9, top_p=0.95, stop_strings=("\n",),
                         row_seeds=seeds)
    alone = [model.sample([c], max_new_tokens=24, temperature=0.9, top_p=0.95, stop_strings=("\n",),
                          row_seeds=[s])[0] for c, s in zip(contexts, seeds)]
    assert batch == alone
    lengths = [len(row) for row in batch]
    assert len(set(lengths)) > 1  # rows stopped at different steps
    for row in batch:  # each row ends at its first stop (or its budget): nothing sampled past it
        text = tok.decode(row)
        assert len(row) == 24 or "\n" in text and "\n" not in tok.decode(row[:-1])


def test_row_seeds_must_match_the_rows():
    with pytest.raises(ProbeInputError, match=r"zoo:tiny-code: 1 row seeds for 2 contexts"):
        load_model("zoo:tiny-code").sample([[0], [0]], max_new_tokens=2, row_seeds=[(0, 0)])


@pytest.mark.slow
def test_the_in_place_cache_and_padding_mask_change_no_token(monkeypatch):
    # The sampling loop appends to the KV cache in place and passes SDPA the padding mask itself; transformers'
    # DynamicCache (a concatenation per token) with its own mask from the 2D padding mask gives the same tokens.
    from transformers import DynamicCache

    from codeguard.models import kv_cache
    model = load_model("zoo:tiny-code")
    tok = model.tokenizer
    # prompts of different lengths (left padding), rows ending at different steps, buffers growing twice
    contexts = [tok("def add(a, b):\n    return")["input_ids"], tok("import os\n")["input_ids"],
                tok("class Stack:\n    def push(self, item):\n        self.")["input_ids"]] * 2
    seeds = [(3, row) for row in range(len(contexts))]
    kwargs = dict(max_new_tokens=40, temperature=0.9, top_p=0.95, stop_strings=("\n\n",), row_seeds=seeds)
    monkeypatch.setattr(kv_cache, "RESERVE", 7)
    in_place = model.sample(contexts, **kwargs)
    assert len({len(row) for row in in_place}) > 1
    monkeypatch.setattr(kv_cache, "sampling_cache",
                        lambda layers, config: (DynamicCache(ddp_cache_data=layers, config=config), False))
    assert model.sample(contexts, **kwargs) == in_place


def test_reserved_layer_holds_what_concatenation_holds():
    import torch

    from codeguard.models.kv_cache import ReservedLayer
    steps = [torch.randn(3, 2, n, 4) for n in (5, 1, 1, 3, 1)]
    layer = ReservedLayer(steps[0], -steps[0], reserve=2)
    for step in steps[1:]:
        keys, values = layer.update(step, -step)
    expected = torch.cat(steps, dim=-2)
    assert torch.equal(keys, expected) and torch.equal(values, -expected) and layer.get_seq_length() == 11
    layer.batch_select_indices(torch.tensor([2, 0]))
    keys, _ = layer.update(steps[1][:2], -steps[1][:2])
    assert torch.equal(keys, torch.cat([expected[[2, 0]], steps[1][:2]], dim=-2))


@pytest.mark.parametrize("clean_up", [False, True])
def test_stop_checks_decode_all_rows_as_decode_does(clean_up, monkeypatch):
    import random
    model = load_model("zoo:tiny-code")
    monkeypatch.setattr(model.hf_tokenizer, "clean_up_tokenization_spaces", clean_up)
    draw = random.Random(4)
    rows = [[draw.randrange(model.output_width) for _ in range(draw.randrange(0, 12))] for _ in range(50)]
    rows += [model.tokenizer("x = f(a , b) ; print('it ' s')\n\ndef g():")["input_ids"], [0, 1, 2]]
    assert model._decode_all(rows) == [model.tokenizer.decode(row) for row in rows]


def test_a_decode_step_without_a_mask_moves_to_the_model_device():
    # Unpadded decode steps pass no mask (None): moving a step's inputs to a GPU must let it through.
    import types

    import torch

    from codeguard.models.hf import HFCausalLM
    model = HFCausalLM("x", "f", "torch", types.SimpleNamespace(device=torch.device("meta")), None)
    ids, mask = model._on_device(torch.ones(2, 1, dtype=torch.long), None)
    assert ids.device.type == "meta" and mask is None
