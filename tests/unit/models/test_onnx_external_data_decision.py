"""Which ONNX models are quantized with external data: decided from the side file next to the exported graph."""
from codeguard.models.derive import derivations
from codeguard.models.derive.derivations import uses_external_data


def test_external_data_is_detected_by_its_side_file(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"graph")
    assert not uses_external_data(tmp_path, "model.onnx")
    (tmp_path / "model.onnx_data").write_bytes(b"weights")  # Optimum's exporter past 2 GB
    assert uses_external_data(tmp_path, "model.onnx")
    (tmp_path / "model_quantized.onnx.data").write_bytes(b"weights")  # ONNX Runtime's quantizer
    assert uses_external_data(tmp_path, "model_quantized.onnx")
    assert not uses_external_data(tmp_path, "other.onnx")


def test_onnx_int8_quantizes_with_external_data_when_the_export_has_it(tmp_path, monkeypatch):
    """The decision reaches ORTQuantizer.quantize (without running Optimum: both steps are replaced)."""
    calls = []

    def fake_onnx(source_dir, export_dir):
        (export_dir / "model.onnx").write_bytes(b"graph")
        (export_dir / "model.onnx_data").write_bytes(b"weights")
        return {}

    class FakeQuantizer:
        @classmethod
        def from_pretrained(cls, directory, file_name):
            return cls()

        def quantize(self, save_dir, quantization_config, use_external_data_format=False):
            calls.append(use_external_data_format)

    import optimum.onnxruntime
    monkeypatch.setattr(derivations, "_onnx", fake_onnx)
    monkeypatch.setattr(derivations, "_copy_tokenizer", lambda source_dir, target: None)
    monkeypatch.setattr(optimum.onnxruntime, "ORTQuantizer", FakeQuantizer)
    target = tmp_path / "target"
    target.mkdir()
    details = derivations._onnx_int8(tmp_path, target)
    assert calls == [True] and details["external_data"] is True
