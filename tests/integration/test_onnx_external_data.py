"""ONNX derivations of a model whose weights live beside the graph (Optimum does so past protobuf's 2 GB limit):
forced on the zoo model with Optimum's FORCE_ONNX_EXTERNAL_DATA=1, they build, load and score like the in-graph ones."""
import os

import numpy as np
import pytest

from codeguard import load_model

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("derivation, data_file", [("onnx", "model.onnx_data"),
                                                   ("onnx-int8", "model_quantized.onnx.data")])
def test_external_data_builds_loads_and_scores_like_the_in_graph_model(derivation, data_file, tmp_path, monkeypatch):
    spec = f"zoo:tiny-code@{derivation}"
    contexts = [[0], [0, 5, 6, 7, 8, 9]]
    monkeypatch.setenv("CODEGUARD_CACHE", str(tmp_path / "in-graph"))
    in_graph = load_model(spec)
    assert not in_graph.details["external_data"]
    monkeypatch.setenv("CODEGUARD_CACHE", str(tmp_path / "external"))
    monkeypatch.setenv("FORCE_ONNX_EXTERNAL_DATA", "1")
    external = load_model(spec)
    directory = external.details["directory"]
    assert external.details["external_data"] and os.path.getsize(os.path.join(directory, data_file)) > 1_000_000
    assert os.path.getsize(os.path.join(directory, external.details["file_name"])) < 1_000_000  # the graph only
    assert np.array_equal(external.next_token_logprobs(contexts), in_graph.next_token_logprobs(contexts))
