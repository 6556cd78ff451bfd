"""`fairtune mitigate RUN_DIR --fairness cda|clp|both|balance|all|tie | --robustness adv|augment|both
| --privacy dp|redact [--seeds N]`.

Trains a child run with the mitigation and re-audits it with the parent's audit settings (for
robustness: the same attack sample and constraints). The child lives in RUN_DIR/mitigate/<kind>-<method>/
with the parent's config plus the mitigation's keys (`train.counterfactual`, `train.identity_balance`,
`train.tie_terms`, `train.adversarial`, `model.word_recognition`, `data.extra_train`, `train.privacy`,
`data.redact`), so it is an ordinary run directory. With N seeds, the parent and the child are each
trained N times (the parent's own run and the child above are the first seed; the others live in
<run>/seeds/seed-<s>/), and every compared metric gets its mean, a 95% interval, and the interval of the
difference child - parent: a change whose interval covers 0 is "not distinguishable from retraining
noise", never an improvement.
`mitigation.json` in the child links it to its parent and holds the before/after table; the parent's
report shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json, read_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage, stage
from fairtune.config import (
    DpConfig,
    FairtuneConfig,
)
from fairtune.errors import (
    MITIGATE_NOTHING,
    MITIGATE_OTHER_KIND,
    MITIGATE_UNUSED_OPTION,
    SEEDS_RANGE,
    ConfigError,
    FairtuneError,
)

MAX_SEEDS = 20

#: What the before/after table shows besides the compared metrics the kind's auditor declares:
#: (metric, lower is better). Accuracy and calibration for every kind, and the training cost.
STAGE_ROWS: dict[str, tuple[tuple[str, bool], ...]] = {
    "fairness": (("eval.accuracy", False), ("eval.ece", True)),
    "robustness": (("eval.accuracy", False), ("eval.ece", True), ("train.train_seconds", True)),
    "privacy": (("eval.accuracy", False), ("eval.ece", True), ("train.samples_per_second", False)),
}


def compared_metrics(kind: str) -> list[tuple[str, bool]]:
    """The rows of the before/after table of a `kind` mitigation."""
    from fairtune.audits import auditors

    stage = STAGE_ROWS[kind]
    return [*stage[:2], *auditors()[kind].compared(), *stage[2:]]


#: --fairness method -> (train.counterfactual.method or None, identity-balanced augmentation on)
FAIRNESS_METHODS: dict[str, tuple[str | None, bool]] = {
    "cda": ("cda", False),
    "clp": ("clp", False),
    "both": ("both", False),
    "balance": (None, True),
    "all": ("both", True),
    "tie": (None, False),  # term tying alone (train.tie_terms); --tie adds it to the others
}


#: --robustness method -> (embedding-space adversarial training, A2T attack training, attack-made copies)
ROBUSTNESS_METHODS: dict[str, tuple[bool, bool, bool]] = {
    "adv": (True, False, False),
    "a2t": (False, True, False),
    "augment": (False, False, True),
    "both": (True, True, False),
}


#: --robustness a2t/both option -> (its field in train.attack, its tag in the child's name)
A2T_OPTIONS = {
    "a2t_share": ("share", "a2t"),
    "perturb_share": ("perturb_share", "perturb"),
    "a2t_start": ("start", "start"),
    "synonym_share": ("synonym_share", "syn"),
    "a2t_ranking": ("ranking", ""),
    "a2t_perturbations": ("perturbations", "pert"),
    "a2t_consistency": ("consistency", "kl"),
}
#: how a value other than a number shows in a child's name, where not as itself
VALUE_TAGS = {"gradient": "grad", "leave_one_out": "loo"}
#: the options of each part of a --robustness method, by its place in ROBUSTNESS_METHODS' flags
ROBUSTNESS_OPTIONS = (("adv_method", "epsilon", "steps"), tuple(A2T_OPTIONS), ("augment_examples",))


#: option -> (the kind it belongs to, what it does, an example of its use)
KIND_OPTIONS = {
    "word_recognition": (
        "robustness",
        "a spelling front end before the model",
        "--robustness both --word-recognition",
    ),
    "tie": ("fairness", "tied embeddings of identity terms", "--fairness all --tie"),
    "tie_pronouns": ("fairness", "tied embeddings of pronouns", "--fairness tie --tie-pronouns"),
}


def _refuse_unused(kind: str, method: str, options: dict[str, Any]) -> None:
    """An option of a part the --robustness method does not run (--a2t-start with adv) is refused, not
    silently ignored; so is an option of another kind of mitigation (--word-recognition with --fairness)."""
    for key, (owner, what, example) in KIND_OPTIONS.items():
        if options.get(key) and kind != owner:
            flag = "--" + key.replace("_", "-")
            raise FairtuneError(
                MITIGATE_OTHER_KIND.format(
                    flag=flag, owner=owner, what=what, kind=kind, method=method, example=example
                )
            )
    if kind != "robustness":
        return
    for part, keys in enumerate(ROBUSTNESS_OPTIONS):
        given = [k for k in keys if options.get(k) is not None]
        if given and not ROBUSTNESS_METHODS[method][part]:
            flag = "--" + given[0].replace("_", "-")
            users = ", ".join(m for m, parts in ROBUSTNESS_METHODS.items() if parts[part])
            raise FairtuneError(MITIGATE_UNUSED_OPTION.format(flag=flag, method=method, users=users))


def child_name(kind: str, method: str, options: dict[str, Any]) -> str:
    """<kind>-<method>, plus what sets a variant apart when it is not the default (template pairs, the
    logit-pairing weight, identity balance's sentences per phrase, term tying and the lexicons; the
    embedding attack and its radius; A2T's shares and start), so that variants live side by side
    (fairness-all-tp16-clp0.25-tie-pron, fairness-cda-gender, robustness-adv-pgd-eps0.2,
    robustness-a2t-a2t0.25-start0.5)."""
    name = f"{kind}-{method}"
    if kind == "fairness" and options.get("template_pairs"):
        name += f"-tp{options['template_pairs']}"
    pairs = kind == "fairness" and FAIRNESS_METHODS[method][0] not in (None, "cda")
    if pairs and options.get("clp_lambda") is not None:
        name += f"-clp{options['clp_lambda']:g}"
    if kind == "fairness" and FAIRNESS_METHODS[method][1] and options.get("balance_per_phrase") is not None:
        name += f"-bpp{options['balance_per_phrase']}"
    if kind == "fairness" and method != "tie" and ties_terms(method, options):
        name += "-tie"
    if kind == "fairness" and options.get("tie_pronouns"):
        name += "-pron"
    if kind == "fairness" and options.get("dimensions"):
        name += "-" + "-".join(options["dimensions"])  # a child of some lexicons beside the one of all
    if kind == "robustness" and ROBUSTNESS_METHODS[method][0]:
        if options.get("adv_method") == "pgd":
            name += "-pgd"
        if options.get("epsilon") is not None:
            name += f"-eps{options['epsilon']:g}"
    if kind == "robustness" and ROBUSTNESS_METHODS[method][1]:
        for key, (_, tag) in A2T_OPTIONS.items():
            value = options.get(key)
            if value is not None:
                shown = VALUE_TAGS.get(value, value) if isinstance(value, str) else format(value, "g")
                name += f"-{tag}{shown}"
    if kind == "robustness" and options.get("word_recognition"):
        name += "-wr"
    return name


def ties_terms(method: str, options: dict[str, Any]) -> bool:
    """Whether a --fairness mitigation ties identity terms' embeddings (train.tie_terms)."""
    return method == "tie" or bool(options.get("tie") or options.get("tie_pronouns"))


def _given(options: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: options[k] for k in keys if options.get(k) is not None}


def child_config(
    parent: FairtuneConfig, parent_root: Path, kind: str, method: str, options: dict[str, Any]
) -> FairtuneConfig:
    """The parent's config plus the mitigation's keys, named <kind>-<method>, under RUN_DIR/mitigate/."""
    out_dir = parent_root / "mitigate"
    name = child_name(kind, method, options)
    train_update: dict[str, Any] = {}
    data = parent.data
    if kind == "fairness":
        cf_method, balance = FAIRNESS_METHODS[method]
        if cf_method is not None:
            pairing = ("clp_lambda", "template_pairs") if cf_method != "cda" else ()  # logit pairing's
            train_update["counterfactual"] = {"method": cf_method, **_given(options, *pairing, "dimensions")}
        if balance:
            renamed = {"balance_per_phrase": "per_phrase", "dimensions": "dimensions"}
            train_update["identity_balance"] = {renamed[k]: v for k, v in _given(options, *renamed).items()}
        if ties_terms(method, options):
            pronouns = bool(options.get("tie_pronouns"))
            train_update["tie_terms"] = {"pronouns": pronouns, **_given(options, "dimensions")}
    elif kind == "privacy":
        if method == "dp":
            dp = {"epsilon": options["dp_epsilon"]} if options.get("dp_epsilon") is not None else {}
            # DP-SGD is per training text: mitigations that add copies of texts cannot come along.
            train_update.update(privacy=DpConfig.model_validate(dp), counterfactual=None, adversarial=None)
            for key, opt in (("batch_size", "dp_batch_size"), ("lr", "dp_lr")):
                if options.get(opt) is not None:
                    train_update[key] = options[opt]
        else:
            data = data.model_copy(update={"redact": True})
    else:
        embedding, attack, augment = ROBUSTNESS_METHODS[method]
        if embedding:
            pgd = options.get("adv_method") == "pgd"
            adv = _given(options, "epsilon", *(("steps",) if pgd else ()))  # FGM takes one step
            if options.get("adv_method"):
                adv["method"] = options["adv_method"]
            train_update["adversarial"] = adv
        if attack:
            train_update["attack"] = {A2T_OPTIONS[k][0]: v for k, v in _given(options, *A2T_OPTIONS).items()}
        if augment:
            data = data.model_copy(update={"extra_train": str(out_dir / name / "augment.jsonl")})
    from fairtune.config import build_config, config_to_dict

    # through build_config, so the child's config is validated as a whole (e.g. DP with its batch size)
    raw = config_to_dict(parent.model_copy(update={"name": name, "output_dir": str(out_dir), "data": data}))
    if kind == "robustness" and options.get("word_recognition"):
        raw["model"]["word_recognition"] = {}  # the front end, at its defaults
    raw["train"].update(
        {k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in train_update.items()}
    )
    return build_config(raw)


def replica_config(cfg: FairtuneConfig, root: Path, seed: int) -> FairtuneConfig:
    """`cfg` trained with another seed, in <root>/seeds/seed-<seed>/."""
    return cfg.model_copy(update={"seed": seed, "name": f"seed-{seed}", "output_dir": str(root / "seeds")})


def compare(parents: list[Path], children: list[Path], kind: str) -> list[dict[str, Any]]:
    """Rows of metric, the parent's and the child's mean over seeds with 95% intervals, the difference
    child - parent with its (Welch) interval, and the verdict: improved, worse, or not distinguishable
    from retraining noise (the interval covers 0). Negative relative change = reduced."""
    from fairtune.evaluation import compare_seeds
    from fairtune.report import collect_metrics

    before = [collect_metrics(p) for p in parents]
    after = [collect_metrics(c) for c in children]
    rows = []
    for metric, lower_better in compared_metrics(kind):
        if not all(metric in m for m in before + after):
            continue
        s = compare_seeds([m[metric] for m in after], [m[metric] for m in before], lower_better)
        p, c, diff = s["parent"], s["child"], s["diff"]
        said = diff["verdict"]
        rows.append(
            {
                "metric": metric,
                "parent": p["mean"],
                "child": c["mean"],
                "delta": diff["mean"],
                "relative": diff["relative"],
                "lower_is_better": lower_better,
                "parent_ci95": p["ci95"],
                "child_ci95": c["ci95"],
                "diff_ci95": diff["ci95"],
                "parent_values": p["values"],
                "child_values": c["values"],
                "verdict": said,
                "improved": said == "improved",
            }
        )
    return rows


def write_robust_augmentation(
    parent: RunDir, cfg: FairtuneConfig, path: Path, n_examples: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Adversarial and perturbed copies of a sample of *training* texts (never eval), made with the
    parent model under the parent's attack constraints; labels are the originals'."""
    import numpy as np

    from fairtune.audits.robustness import (
        Perturbations,
        SentenceEncoder,
        WordSubstitutionAttack,
        attack_settings,
        sample_indices,
    )
    from fairtune.audits.robustness._audit import read_names
    from fairtune.data import LabelledData, load_task_data, load_wordnet, write_jsonl
    from fairtune.models import TorchClassifier

    rc = cfg.audit.robustness
    clf = TorchClassifier.from_dir(
        parent.model, batch_size=cfg.train.eval_batch_size, max_length=cfg.data.max_length
    )
    train = load_task_data(
        cfg.data.model_copy(update={"label_names": clf.labels}), cfg.seed, cfg.encryption
    ).train
    idx = sample_indices(len(train), n_examples, cfg.seed)
    wordnet = load_wordnet(rc.wordnet, "audit.robustness.wordnet")
    encoder = (
        SentenceEncoder.from_name(rc.similarity_model or cfg.model.name, max_length=cfg.data.max_length)
        if rc.min_similarity
        else None
    )
    log(f"mitigate: attacking {len(idx)} training texts with the parent model for augmentation")
    out = WordSubstitutionAttack(clf, wordnet, attack_settings(rc), encoder).run(
        [train.texts[i] for i in idx], train.labels[idx]
    )
    adversarial = [(a["adversarial"], clf.labels.index(a["label"])) for a in out["adversarial"]]
    perturbed = _perturbed_copies(train, idx, Perturbations(wordnet, read_names()).core(), cfg.seed)
    copies = adversarial + perturbed
    rows = LabelledData([t for t, _ in copies], np.array([k for _, k in copies], dtype=np.int64))
    # copies of training texts: encrypted like them
    write_jsonl(path, rows, clf.labels, cfg.data.text_column, cfg.data.label_column, cfg.encryption)
    return {
        "train_texts_sampled": len(idx),
        "adversarial_added": len(adversarial),
        "attack_success_rate_on_train": out["attack_success_rate"],
        "perturbed_added": len(perturbed),
        "file": str(path),
        "seconds": out["seconds"],
        "label_shares": {lab: float(np.mean(rows.labels == k)) for k, lab in enumerate(clf.labels)}
        if len(rows)
        else {},
    }


def _perturbed_copies(train: Any, idx: Any, perturb: dict[str, Any], seed: int) -> list[tuple[str, int]]:
    """One random label-preserving perturbation of each sampled training text, with its label id."""
    import random

    from fairtune.audits.robustness._perturb import perturb_once

    rng = random.Random(seed)
    made = ((perturb_once(train.texts[i], perturb, rng), int(train.labels[i])) for i in idx)
    return [(text, label) for text, label in made if text is not None]


def _train(cfg: FairtuneConfig, show_progress: bool, log: Callable[[str], None]) -> None:
    """Train the run of `cfg` unless it is already trained with this config (the caller checked it)."""
    from fairtune.training import latest_checkpoint

    run = RunDir.for_config(cfg)
    if (run.model / "config.json").is_file() and run.metrics.is_file():
        log(f"mitigate: {run.root} is already trained with this config; not training it again")
        return
    resume = latest_checkpoint(run.checkpoints) is not None
    stage("train")(cfg, resume=resume, overwrite=not resume, show_progress=show_progress)


#: why a run is audited again even where its audit is current
REAUDIT_ASKED = "asked by --reaudit"
REAUDIT_CHILD = "a child's runs are audited by every mitigate"


def _audit_unless_current(root: Path, kind: str, again: str | None, log: Callable[[str], None]) -> None:
    """Audit the run at `root` for `kind` when its document cannot be compared with what today's auditor
    writes (none yet, another version of the auditor, other settings), or else for the reason `again`."""
    from fairtune.audits import stale_reason

    why = stale_reason(root, kind) or again
    if why:
        log(f"mitigate: auditing {root} ({kind}; audit/{kind}.json: {why})")
        stage("audit")(root, only=[kind], log=log)


def _seeded_runs(
    cfg: FairtuneConfig,
    root: Path,
    seeds: list[int],
    kind: str,
    *,
    again: str | None,
    show_progress: bool,
    log: Callable[[str], None],
) -> list[Path]:
    """The replicas of the run at `root` for every seed but its own (the first), trained and audited."""
    out = [root]
    for seed in seeds[1:]:
        rcfg = replica_config(cfg, root, seed)
        run = RunDir.for_config(rcfg)
        run.check_same_config(rcfg)
        log(f"mitigate: seed {seed}: training {run.root}")
        _train(rcfg, show_progress, log)
        _audit_unless_current(run.root, kind, again, log)
        out.append(run.root)
    return out


def sweep_folder(root: Path, choice: tuple[str, str, dict[str, Any]], key: str, share: float) -> Path:
    """RUN_DIR/mitigate/sweep-<child>-<key>-v<share>-<tag>: the tag is a digest of the other options
    (dimensions, template pairs, ...), so sweeps under other options never share runs."""
    import hashlib
    import json

    kind, method, options = choice
    others = {k: v for k, v in sorted(options.items()) if v is not None and k != key}
    tag = hashlib.sha1(json.dumps(others, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return root / "mitigate" / f"sweep-{child_name(kind, method, options)}-{key}-v{share:g}-{tag}"


def _sweep(
    parent: RunDir,
    pcfg: FairtuneConfig,
    choice: tuple[str, str, dict[str, Any]],
    key: str,
    values: list[float],
    share: float,
    *,
    show_progress: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The --sweep of `key` over `values` on a validation split of the training rows (mitigations/_sweep)."""
    from fairtune.mitigations._sweep import run_sweep

    kind, method, options = choice
    audit = stage("audit")

    def make(value: float | None) -> FairtuneConfig:
        return (
            pcfg if value is None else child_config(pcfg, parent.root, kind, method, {**options, key: value})
        )

    def train_and_audit(cfg: FairtuneConfig) -> Path:
        run = RunDir.for_config(cfg)
        run.check_same_config(cfg)
        log(f"mitigate: sweep: training {run.root}")
        _train(cfg, show_progress, log)
        audit(run.root, only=[kind], log=log)
        return run.root

    folder = sweep_folder(parent.root, choice, key, share)
    harms = [m for m, lower in compared_metrics(kind) if lower and m.startswith(f"{kind}.")]
    return run_sweep(
        parent, pcfg, kind, method, key, values, make,
        folder=folder, share=share, harms=harms, train_and_audit=train_and_audit, log=log,
    )  # fmt: skip


def train_seconds(roots: list[Path]) -> dict[str, Any]:
    """Training time per run (metrics.json train.train_seconds) over seeds."""
    from fairtune.evaluation import mean_ci

    return mean_ci([float(read_json(RunDir(r).metrics)["train"]["train_seconds"]) for r in roots])


def _chosen(fairness: str | None, robustness: str | None, privacy: str | None) -> tuple[str, str]:
    """(kind, method) of the one mitigation asked for."""
    chosen = [
        (k, m) for k, m in (("fairness", fairness), ("robustness", robustness), ("privacy", privacy)) if m
    ]
    if len(chosen) != 1:
        raise FairtuneError(MITIGATE_NOTHING)
    return chosen[0]


def _with_seeds(pcfg: FairtuneConfig, seeds: int | None) -> FairtuneConfig:
    """The parent's config with mitigate.seeds set to `seeds` (checked), if given."""
    if seeds is None:
        return pcfg
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(SEEDS_RANGE.format(value=seeds, most=MAX_SEEDS))
    return pcfg.model_copy(update={"mitigate": pcfg.mitigate.model_copy(update={"seeds": seeds})})


def _child_after_sweep(
    parent: RunDir,
    pcfg: FairtuneConfig,
    choice: tuple[str, str, dict[str, Any]],
    swept: tuple[str, list[float]],
    validation_share: float,
    *,
    overwrite: bool,
    show_progress: bool,
    log: Callable[[str], None],
) -> tuple[FairtuneConfig, dict[str, Any]]:
    """The child's config with the swept option at the value the sweep chose, and the sweep's document.
    The child is named after the chosen value, so it never lands on the child of the default setting
    (where the child's name already tells the value, as robustness-a2t-a2t0.25 does, it is that name)."""
    import shutil

    from fairtune.mitigations._sweep import point_name

    kind, method, options = choice
    key, values = swept
    if overwrite:
        shutil.rmtree(sweep_folder(parent.root, choice, key, validation_share), ignore_errors=True)
    sweep_doc = _sweep(
        parent, pcfg, choice, key, values, validation_share, show_progress=show_progress, log=log
    )
    options[key] = sweep_doc["chosen"]
    cfg = child_config(pcfg, parent.root, kind, method, options)
    if cfg.name != child_name(kind, method, {k: v for k, v in options.items() if k != key}):
        return cfg, sweep_doc
    name = f"{cfg.name}-sweep-{point_name(key, sweep_doc['chosen'])}"
    return cfg.model_copy(update={"name": name}), sweep_doc


def _mitigation_doc(
    cfg: FairtuneConfig,
    kind: str,
    method: str,
    parent: RunDir,
    child: RunDir,
    runs: tuple[list[int], list[Path], list[Path]],
    augmentation: dict[str, Any] | None,
) -> dict[str, Any]:
    """mitigation.json: what was trained, the runs over `runs` (seeds, parents' runs, children's runs),
    their training time, and the comparison."""
    seeds, parents, children = runs
    train = read_json(child.metrics).get("train", {})
    aug_path = child.root / "augmentation.json"
    p_time, c_time = train_seconds(parents), train_seconds(children)
    return {
        "schema": "fairtune/mitigation/v2",
        "kind": kind,
        "method": method,
        "parent": str(parent.root),
        "child": str(child.root),
        "seeds": seeds,
        "parent_runs": [str(p) for p in parents],
        "child_runs": [str(c) for c in children],
        "counterfactual": train.get("counterfactual"),
        "identity_balance": train.get("identity_balance"),
        "tie_terms": train.get("objectives", {}).get("term_tying"),
        "adversarial": cfg.train.adversarial.model_dump() if cfg.train.adversarial else None,
        "attack": train.get("objectives", {}).get("attack"),
        "privacy": train.get("privacy"),
        "redaction": cfg.data.redact or None,
        "augmentation": augmentation or (read_json(aug_path) if aug_path.is_file() else None),
        "train_seconds": {"parent": p_time, "child": c_time, "ratio": c_time["mean"] / p_time["mean"]},
        "comparison": compare(parents, children, kind),
    }


def mitigate(
    run_dir: str | Path,
    *,
    fairness: str | None = None,
    robustness: str | None = None,
    privacy: str | None = None,
    options: dict[str, Any] | None = None,
    seeds: int | None = None,
    reaudit: bool = False,
    overwrite: bool = False,
    sweep: str | None = None,
    validation_share: float = 0.1,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train, audit and compare the child for the requested mitigation over `seeds` seeds (unset: the
    parent's mitigate.seeds); re-render the parent's report. `reaudit` audits the parent's runs again
    even where their audit documents are current; without it, a parent's run is audited again only when
    its document cannot be compared with today's auditor (audits/_provenance.py). The children are
    always audited. `sweep` (KEY=V1,V2,...) first
    chooses that option's value on a `validation_share` split of the training rows (mitigations/_sweep.py)."""
    import shutil

    from fairtune.audits import audit_input_problems
    from fairtune.mitigations._sweep import parse_sweep

    audit = stage("audit")
    kind, method = _chosen(fairness, robustness, privacy)
    options = dict(options or {})
    _refuse_unused(kind, method, options)
    swept = parse_sweep(sweep, kind, validation_share) if sweep is not None else None
    parent = RunDir(Path(run_dir))
    parent.require_model()
    pcfg = _with_seeds(parent.load_config(), seeds)
    seed_list = [pcfg.seed + k for k in range(pcfg.mitigate.seeds)]
    cfg = child_config(pcfg, parent.root, kind, method, options)
    problems = audit_input_problems(cfg)  # before any training or auditing
    if problems:
        raise ConfigError(problems)
    sweep_doc = None
    if swept is not None:  # the child is known (and checked, or overwritten) once the value is chosen
        run_kw: dict[str, Any] = {"overwrite": overwrite, "show_progress": show_progress, "log": log}
        choice = (kind, method, options)
        cfg, sweep_doc = _child_after_sweep(parent, pcfg, choice, swept, validation_share, **run_kw)
    child = RunDir.for_config(cfg)
    if overwrite:
        shutil.rmtree(child.root, ignore_errors=True)
    child.check_same_config(cfg)
    parent_again = REAUDIT_ASKED if reaudit else None
    _audit_unless_current(parent.root, kind, parent_again, log)
    augmentation = None
    if cfg.data.extra_train and not (child.model / "config.json").is_file():
        child.root.mkdir(parents=True, exist_ok=True)
        augmentation = write_robust_augmentation(
            parent, pcfg, Path(cfg.data.extra_train), options.get("augment_examples") or 2000, log
        )
        atomic_write_json(child.root / "augmentation.json", augmentation)
    log(f"mitigate: training {child.root} ({kind} mitigation '{method}', seed {cfg.seed})")
    _train(cfg, show_progress, log)
    audit(child.root, only=[kind], log=log)
    seeded: dict[str, Any] = {"show_progress": show_progress, "log": log}
    parents = _seeded_runs(pcfg, parent.root, seed_list, kind, again=parent_again, **seeded)
    children = _seeded_runs(cfg, child.root, seed_list, kind, again=REAUDIT_CHILD, **seeded)
    doc = _mitigation_doc(cfg, kind, method, parent, child, (seed_list, parents, children), augmentation)
    if sweep_doc:
        doc["sweep"] = sweep_doc
    atomic_write_json(child.root / "mitigation.json", doc)
    if (parent.root / "report.html").is_file():
        stage("report")(parent.root)
    return [doc]


register_stage("mitigate", mitigate)
