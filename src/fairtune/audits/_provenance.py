"""What wrote an audit document: a digest of the auditor's code and one of the settings it read.

Workflows that compare audit documents of two runs (`mitigate`: parent against child; `update`: the
served model against its refresh; `compress`: the run against its variants) must not compare numbers an
older auditor wrote with numbers of today's: an auditor that gained a dimension or a test reports other
quantities under the same names. `stale_reason` says why a run's document cannot be compared (none yet,
written before documents carried their provenance, another version of the auditor's code, other
settings), and those workflows audit such a run again first.

The code digest covers every file of the auditor's package (its `_plugin.py`'s folder: code, word lists,
templates), the files outside it that it declares it reads (`register_auditor(inputs=...)`: the fairness
lexicons, shared helpers) and the shared modules of `fairtune/audits/`. The settings digest covers the
config sections an auditor may read: the seed, data, model and training sections and its own
`audit.<name>` section.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fairtune._io import read_json

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig

#: The config sections every auditor may read, besides its own audit.<name>.
AUDIT_INPUTS = ("seed", "data", "model", "train")


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little") + part)
    return h.hexdigest()[:16]


#: never part of a digest: caches, editor leftovers
_SKIP_SUFFIXES = (".pyc", ".swp", ".tmp", "~")


def _files(root: Path) -> list[Path]:
    """`root` itself if a file, else every file under it but caches and editor leftovers, in order."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(_SKIP_SUFFIXES)
    )


def _code_roots(name: str) -> list[Path]:
    """What auditor `name`'s code is: fairtune/audits/*.py, its package (the folder of its `_plugin.py`;
    a runner defined in any other module: that module's file) and its declared `inputs`."""
    from fairtune.audits._registry import auditors

    spec = auditors()[name]
    audits = Path(__file__).parent
    roots = [*sorted(audits.glob("*.py")), *(audits.parent / rel for rel in spec.inputs)]
    module = sys.modules.get(spec.run.__module__) if spec.run is not None else None
    file = getattr(module, "__file__", None)
    if file:
        roots.append(Path(file).parent if Path(file).name == "_plugin.py" else Path(file))
    return roots


@functools.cache
def code_digest(name: str) -> str:
    """A digest of the files of auditor `name`'s code (`_code_roots`), each named by its path under its
    root's parent, so a file moved between folders counts as a change."""
    parts: list[bytes] = []
    for root in _code_roots(name):
        for path in _files(root):
            parts += [str(path.relative_to(root.parent)).encode(), path.read_bytes()]
    return _digest(parts)


def settings_digest(name: str, cfg: FairtuneConfig) -> str:
    """A digest of the config sections auditor `name` may read (AUDIT_INPUTS and audit.<name>)."""
    from fairtune._stages import drop_unset
    from fairtune.config import config_to_dict

    doc = drop_unset(config_to_dict(cfg))
    read = {k: doc.get(k) for k in AUDIT_INPUTS} | {"audit": doc.get("audit", {}).get(name)}
    return _digest([json.dumps(read, sort_keys=True, default=str).encode()])


def provenance(name: str, cfg: FairtuneConfig) -> dict[str, str]:
    """The `provenance` block of auditor `name`'s document for a run of config `cfg`."""
    from fairtune._version import __version__

    return {"code": code_digest(name), "settings": settings_digest(name, cfg), "fairtune": __version__}


def stale_reason(run_root: Path, name: str) -> str | None:
    """Why the run's audit/<name>.json cannot be compared with one today's auditor writes under the run's
    config; None when it can."""
    from fairtune._rundir import RunDir

    path = run_root / "audit" / f"{name}.json"
    if not path.is_file():
        return "none yet"
    got = read_json(path).get("provenance")
    if not isinstance(got, dict) or not got:
        return "written before audit documents recorded the auditor's version"
    want = provenance(name, RunDir(run_root).load_config())
    if got.get("code") != want["code"]:
        return f"written by another version of the {name} auditor (fairtune {got.get('fairtune', '?')})"
    if got.get("settings") != want["settings"]:
        return "written under other settings"
    return None


def stale_audits(run_root: Path, names: list[str]) -> dict[str, str]:
    """{auditor: why} for those of `names` whose document in the run cannot be compared (`stale_reason`)."""
    return {n: why for n in names if (why := stale_reason(run_root, n))}


def describe_stale(stale: dict[str, str]) -> str:
    """`stale_audits`' answer as one log clause: "audit/fairness.json: none yet; audit/..."."""
    return "; ".join(f"audit/{n}.json: {why}" for n, why in stale.items())
