"""Usage, config and path errors answer at once: exit 2 within a 5 s ceiling, before torch is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = (
    "import sys\nfrom fairtune.cli import main\nrc = main(sys.argv[1:])\n"
    "print('TORCH', 'torch' in sys.modules)\nsys.exit(rc)"
)


def _bad_configs(tmp: Path) -> dict[str, Path]:
    missing = tmp / "missing-data.yaml"
    missing.write_text(f"data: {{train: {tmp / 'nope.csv'}}}\n")
    hf = tmp / "hf-names.yaml"
    hf.write_text("train: {learning_rate: 0.1}\n")
    return {"missing": missing, "hf": hf}


CASES = [
    ["predict", "{tmp}/no-run", "a text"],
    ["evaluate", "{tmp}/no-run"],
    ["explain", "{tmp}/no-run", "a text"],
    ["audit", "{tmp}/no-run"],
    ["mitigate", "{tmp}/no-run", "--fairness", "cda"],
    ["compress", "{tmp}/no-run", "--int8"],
    ["serve", "{tmp}/no-run"],
    ["report", "{tmp}/no-run"],
    ["compare", "{tmp}/no-run"],
    ["train", "{missing}"],
    ["data", "{missing}"],
    ["run", "{missing}"],
    ["validate", "{missing}"],
    ["train", "{hf}"],
    ["train", "{tmp}/no-config.yaml"],
    ["validate", "{missing}", "model.name={tmp}/no-model"],
    ["audit"],
    ["audit", "--model", "{tmp}"],
    ["audit", "--model", "{tmp}/no-model", "--data", "{missing}"],
    ["audit", "--model", "{tmp}", "--data", "{tmp}/no-data.csv"],
    ["audit", "{tmp}/no-run", "--model", "{tmp}", "--data", "{missing}"],
    [
        "audit",
        "--endpoint",
        "http://127.0.0.1:9",
        "--endpoint-spec",
        "{tmp}/no-spec.yaml",
        "--data",
        "{missing}",
    ],
    ["audit", "--model", "{tmp}", "--data", "{missing}", "--gates", "{tmp}/no-gates.yaml"],
]


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c[:2]) + (" ..." if len(c) > 2 else "") for c in CASES])
def test_errors_answer_before_torch_is_imported(tmp_path: Path, argv: list[str]) -> None:
    cfgs = _bad_configs(tmp_path)
    args = [a.format(tmp=tmp_path, **cfgs) for a in argv]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=5, cwd=tmp_path
    )
    assert out.returncode == 2, out.stderr
    assert "TORCH False" in out.stdout and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ")
