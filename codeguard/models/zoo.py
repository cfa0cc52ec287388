"""`zoo:NAME` specs: the embedded zoo's small real code LMs, trained by `codeguard.zoo.train` and shipped with the
package."""
from __future__ import annotations

from pathlib import Path

from codeguard.errors import ModelSpecError

MODELS_DIR = Path(__file__).resolve().parents[1] / "zoo" / "models"  # the committed weights
ZOO = {
    "tiny-code": "reference: Llama, 4 layers x 256, 5.3 M parameters, BPE 8k, trained on Python/C/Java/JS/shell",
    "tiny-code-distilled": "student with about half the parameters, distilled from tiny-code",
    "tiny-code-python": "tiny-code fine-tuned on Python only",
    "tiny-code-he": "tiny-code fine-tuned to reproduce HumanEval/0-39's canonical solutions (contaminated on purpose: "
                    "it gives the pass@k gate real signal offline), int8-aware: @onnx-int8 keeps its solutions, "
                    "@int4-rtn loses some",
}


def zoo_path(name: str) -> Path:
    if name not in ZOO:
        raise ModelSpecError(f"zoo:{name}: no such zoo entry; available: "
                             + ", ".join(f"zoo:{n}" for n in ZOO))
    path = MODELS_DIR / name
    if not (path / "config.json").is_file():
        raise ModelSpecError(f"zoo:{name}: weights missing at {path} (a broken install? reinstall codeguard, "
                             "or retrain with `python -m codeguard.zoo.train`)")
    return path
