"""$CODEGUARD_TOKEN_BUDGET: padded tokens per forward pass (the batch size `codeguard calibrate` varies)."""
import pytest

from codeguard.errors import ModelSpecError
from codeguard.models.hf import HFCausalLM
from codeguard.models.loading import token_budget


def test_unset_is_the_default_budget(monkeypatch):
    monkeypatch.delenv("CODEGUARD_TOKEN_BUDGET", raising=False)
    assert token_budget() == HFCausalLM.token_budget == 4096


def test_a_set_budget_is_used(monkeypatch):
    monkeypatch.setenv("CODEGUARD_TOKEN_BUDGET", "512")
    assert token_budget() == 512


@pytest.mark.parametrize("value", ["0", "-3", "lots"])
def test_a_bad_budget_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("CODEGUARD_TOKEN_BUDGET", value)
    with pytest.raises(ModelSpecError, match=f"CODEGUARD_TOKEN_BUDGET='{value}': expected a positive number"):
        token_budget()


@pytest.mark.parametrize("variable", ["CODEGUARD_ORT_THREADS", "CODEGUARD_GGUF_THREADS", "CODEGUARD_TOKEN_BUDGET"])
@pytest.mark.parametrize("bad", ["zero", "0", "-2"])
def test_every_backend_setting_from_the_environment_is_checked_and_named(monkeypatch, variable, bad):
    from codeguard.models.env_settings import positive_int_from_env
    monkeypatch.setenv(variable, bad)
    with pytest.raises(ModelSpecError, match=f"{variable}='{bad}': expected a positive number"):
        positive_int_from_env(variable, "threads")
    monkeypatch.setenv(variable, "3")
    assert positive_int_from_env(variable, "threads") == 3
    monkeypatch.setenv(variable, "")
    assert positive_int_from_env(variable, "threads") is None
