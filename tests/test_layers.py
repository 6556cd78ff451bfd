"""Imports point downward only: cli/ -> workflows/ -> components, and workflows never import each other.

Checked on the source with `ast`, so a violating import is found even inside a function (where the
heavy imports live) and without importing anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "fairtune"
#: Modules above the workflows, which may import them: the command line, `python -m fairtune`, and the
#: package's public API (`fairtune/__init__.py`, like the CLI a caller of workflows; today it imports none).
ABOVE_WORKFLOWS = ("fairtune.cli", "fairtune.__main__", "fairtune")


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, relative ones resolved. `from a import b`
    yields both `a` and `a.b`, since `b` may be a module."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(src: Path = SRC) -> list[str]:
    """Every import that points up or sideways between workflows, as 'file:line: module imports name'."""
    out = []
    for path in sorted((src / "fairtune").rglob("*.py")):
        module = module_name(path, src)
        lines = {n: ln for ln, n in imported_modules(path.read_text(), module, path.name == "__init__.py")}
        names = set(lines)
        if within(module, "fairtune.workflows"):
            if module == "fairtune.workflows":
                continue  # the package imports its modules, so that every stage is registered
            bad = [n for n in names if within(n, "fairtune.workflows") and n != module]
        elif any(module == m or (m != "fairtune" and within(module, m)) for m in ABOVE_WORKFLOWS):
            continue
        else:  # a component
            bad = [n for n in names if within(n, "fairtune.workflows") or within(n, "fairtune.cli")]
        # `from fairtune.workflows import train` yields both names; report the most specific one
        bad = [n for n in bad if not any(o != n and o.startswith(n + ".") for o in bad)]
        out += [f"{path.relative_to(src)}:{lines[n]}: {module} imports {n}" for n in sorted(bad)]
    return out


def test_workflows_import_no_other_workflow_and_components_import_neither_workflows_nor_cli() -> None:
    assert violations() == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"fairtune/__init__.py": "", "fairtune/workflows/__init__.py": "", **files}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"fairtune/workflows/run.py": "def f():\n    from fairtune.workflows.train import train\n"}, 2),
        ({"fairtune/workflows/run.py": "from fairtune.workflows import train\n"}, 1),
        ({"fairtune/workflows/run.py": "import fairtune.workflows.audit as a\n"}, 1),
        ({"fairtune/workflows/run.py": "from . import train\n"}, 1),
        ({"fairtune/workflows/run.py": "from .train import train\n"}, 1),
        ({"fairtune/workflows/run.py": "from ..workflows import train\n"}, 1),
        ({"fairtune/audits/x.py": "from fairtune.workflows.train import train\n"}, 1),
        ({"fairtune/audits/x.py": "from ..cli import main\n"}, 1),
        ({"fairtune/audits/x/y.py": "import fairtune.cli\n"}, 1),
    ],
)
def test_the_check_finds_an_import_that_points_the_wrong_way(
    tmp_path: Path, files: dict[str, str], expected: int
) -> None:
    found = violations(_tree(tmp_path, files))
    assert len(found) == 1 and found[0].split(":")[1] == str(expected), found


def test_the_check_allows_what_the_layers_allow(tmp_path: Path) -> None:
    files = {
        "fairtune/workflows/__init__.py": "from fairtune.workflows import run, train\n",
        "fairtune/workflows/run.py": "from fairtune._stages import stage\nfrom ..audits import auditors\n",
        "fairtune/cli/_run.py": "from fairtune.workflows.run import run_pipeline\n",
        "fairtune/__main__.py": "from fairtune.cli import main\n",
        "fairtune/__init__.py": "from fairtune.workflows.predict import predict\n",
        "fairtune/audits/x.py": "from fairtune._stages import stage\nfrom . import y\n",
    }
    assert violations(_tree(tmp_path, files)) == []


def test_the_import_linter_contracts_cover_every_workflow_and_component() -> None:
    """`lint-imports` (make lint) checks the same layers with import-linter; its lists must name every
    workflow module and every component, so that a new one cannot slip past its contracts."""
    import tomllib

    contracts = tomllib.loads((SRC.parent / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    independent = next(c for c in contracts if c["type"] == "independence")["modules"]
    workflows = sorted(f"fairtune.workflows.{p.stem}" for p in (PACKAGE / "workflows").glob("[!_]*.py"))
    assert sorted(independent) == workflows
    forbidden = next(c for c in contracts if c["type"] == "forbidden")["source_modules"]
    modules = [p for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()]
    above = {"cli", "workflows", "__init__", "__main__"}
    components = sorted(f"fairtune.{p.stem}" for p in modules if p.stem not in above)
    assert sorted(forbidden) == components
