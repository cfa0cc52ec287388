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
