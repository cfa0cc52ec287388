"""Spec strings and --model-pair values: accepted forms and the messages for bad ones."""
import pytest

from codeguard.errors import ModelSpecError
from codeguard.models.specs import parse_model_pair, parse_spec


def test_forms_parse():
    assert parse_spec("zoo:tiny-code@int4-rtn").scheme == "zoo"
    assert parse_spec("zoo:tiny-code@int4-rtn").derivations == ("int4-rtn",)
    hub = parse_spec("hf:bigcode/starcoderbase-1b@onnx-int8")
    assert (hub.scheme, hub.location, hub.derivations) == ("hf", "bigcode/starcoderbase-1b", ("onnx-int8",))
    local = parse_spec("./models/my@model/v1@fp16")  # '@' inside a folder name stays part of the path
    assert (local.scheme, local.location, local.derivations) == ("path", "./models/my@model/v1", ("fp16",))
    assert parse_spec("zoo:tiny-code").slug() == "zoo-tiny-code"
    assert parse_spec("/data/models/Coder-1B@fp16").slug() == "coder-1b"


@pytest.mark.parametrize("spec, fragment", [
    ("zoo:tiny-code@int3", "unknown derivation suffix '@int3'"),
    ("s3://bucket/model", "unknown scheme 's3:'"),
    ("ollama:codellama", "unknown scheme 'ollama:'"),
    ("hf:not-a-hub-id", "is not a hub id of the form ORG/NAME"),
    ("zoo:", "missing zoo entry name"),
    ("zoo:tiny-code@", "empty derivation suffix"),
    ("", "empty model spec"),
])
def test_bad_specs_name_the_spec_and_the_accepted_forms(spec, fragment):
    with pytest.raises(ModelSpecError) as info:
        parse_spec(spec)
    assert fragment in str(info.value)
    assert "accepted forms" in str(info.value)


@pytest.mark.parametrize("value", ["zoo:tiny-code", "a,b,c", ",zoo:tiny-code", "zoo:tiny-code,"])
def test_malformed_model_pair(value):
    with pytest.raises(ModelSpecError) as info:
        parse_model_pair(value)
    assert repr(value) in str(info.value)
    assert "REF,OPT" in str(info.value) or "non-empty" in str(info.value)
