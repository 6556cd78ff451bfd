"""Errors a user can act on, and the message templates the tests assert on.

Every message names the field or file as the user types it, shows the bad value and says the fix.
`UsageError` (and subclasses) map to exit code 2 in the CLI; nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# --- config -------------------------------------------------------------------------------------
CONFIG_FILE_MISSING = "config: file not found: {path}. Pass the path to a YAML config (see configs/)."
CONFIG_NOT_YAML = "config: {path} is not valid YAML ({detail}). Fix the syntax at the line shown."
CONFIG_NOT_MAPPING = "config: {path} must hold a mapping of sections (data:, model:, train:), not {kind}."
UNKNOWN_KEY = "{field}: unknown key.{suggestion} Valid keys here: {valid}."
DID_YOU_MEAN = " Did you mean '{guess}'?"
WRONG_VALUE = "{field}: {reason} (got {value!r}). {fix}"
BAD_OVERRIDE = "override {text!r}: expected KEY=VALUE with a dotted key, e.g. train.lr=3e-5."
CONFIG_PROBLEMS = "{n} problem(s) in the config; nothing was run:"

# --- data ---------------------------------------------------------------------------------------
DATA_FILE_MISSING = "{field}: file not found: {path}. Check the path (relative paths start from {cwd})."
DATA_GLOB_EMPTY = "{field}: no file matches {pattern!r} (relative paths start from {cwd}). Check the pattern."
DATA_GLOB_FILE_COLUMN = (
    "{path}: already has a column {column!r}, which a glob read adds (the file name). Rename that column."
)
DATA_UNKNOWN_KIND = (
    "{field}: cannot read labelled data from a {kind}. Pass a file path, a pandas DataFrame, a "
    "datasets.Dataset, a dict of columns, or (texts, labels) as two lists of the same length."
)
DATA_UNSUPPORTED_TYPE = (
    "{field}: unsupported file type {suffix!r} for {path}. Use .csv, .tsv, .jsonl, .json or .parquet, "
    "or set data.format to one of csv|tsv|jsonl|parquet."
)
DATA_NOT_UTF8 = (
    "{path}: line {line} is not valid UTF-8 (byte {byte} at column {col}). Re-save the file as UTF-8."
)
DATA_UNREADABLE = (
    "{path}: could not be parsed as {fmt} ({detail}). Check data.format and the file's contents."
)
DATA_MISSING_COLUMN = (
    "{field}: column {column!r} not in {path} (columns: {columns}). Set {field} to one of them."
)
DATA_EMPTY_TEXT = (
    "{path}: {n} empty text(s) in column {column!r} (first at {where}). Remove those rows or fill them in."
)
DATA_BINARY_TEXT = (
    "{path}: {n} text(s) in column {column!r} look like binary data, not text (first at {where}: "
    "{preview}). Decode those values to text or remove the rows."
)
DATA_MISSING_LABEL = (
    "{path}: {n} missing label(s) in column {column!r} (first at {where}). Every row needs a label."
)
DATA_UNSEEN_LABEL = (
    "{path}: label(s) {labels} never appear in the training data (training labels: {train_labels}). "
    "Fix those labels or add training examples for them."
)
DATA_LABEL_NOT_IN_NAMES = (
    "{path}: label {label!r} (first at {where}) is not in data.label_names {names}. "
    "Add it to data.label_names or fix the label."
)
DATA_INT_LABEL_RANGE = (
    "{path}: integer label {label} (first at {where}) is outside 0..{top} for data.label_names {names}. "
    "Integer labels index data.label_names."
)
EVAL_SPLIT_TOO_SMALL = (
    "data.eval_fraction: {fraction:g} of {n} training rows gives {n_eval} eval rows, but the {labels} labels "
    "need at least one row each on both sides of a stratified split. Raise data.eval_fraction to at least "
    "{least:g}, or give a separate eval file in data.eval."
)
EVAL_SPLIT_FAILED = (
    "data.eval_fraction: {fraction:g} of {n} training rows cannot be split ({detail}). Change "
    "data.eval_fraction, or give a separate eval file in data.eval."
)
DATA_EMPTY_FILE = "{path}: no rows. A {split} split needs at least one labelled row."
DATA_ONE_CLASS = "{field}: the training data has a single label ({label!r}); a classifier needs at least two."
DATA_NO_SOURCE = (
    "data.train: not set. Give a file (data.train: path/to/train.csv) or a dataset (data.hf_dataset)."
)
DATA_HF_FAILED = (
    "data.hf_dataset: could not load {name!r} ({detail}). Without network access only local dataset "
    "folders work; point data.train/data.eval at local files instead."
)

# --- model --------------------------------------------------------------------------------------
MODEL_NO_CONFIG = (
    "model.name: {path} has no config.json, so it is not a Hugging Face model directory. "
    "Point model.name at a folder written by save_pretrained, or use 'minilm' for the packaged model."
)
MODEL_PATH_MISSING = (
    "model.name: folder not found: {path}. Use 'minilm', a local Hugging Face model folder, or a hub id "
    "like 'org/name'."
)
MODEL_HUB_FAILED = (
    "model.name: could not load {name!r} from the Hugging Face hub ({detail}). This machine may be offline: "
    "use 'minilm' (the packaged model) or a local model folder."
)
MODEL_NO_SAFETENSORS = (
    "model.name: {path} has no model.safetensors; fairtune loads weights only as safetensors. Convert the "
    "weights (save_pretrained(..., safe_serialization=True))."
)

MODEL_POOLING_UNSUPPORTED = (
    "model.pooling: 'mean' is built for BERT-family encoders (model_type {supported}); {name} is "
    "{model_type!r}. Use model.pooling: cls (the model's own head) for it."
)

# --- runs ---------------------------------------------------------------------------------------
RUN_DIR_MISSING = "{path}: run directory not found. Train one first: fairtune train CONFIG."
RUN_NOT_TRAINED = "{path}: no trained model in {path}/model. Train it first: fairtune train CONFIG."
RUN_EXISTS = (
    "{path}: this run already has {what}. Pass --resume to continue it, --overwrite to start again, "
    "or set name=... to write a new run."
)
RUN_OTHER_CONFIG = (
    "{path}: this run directory was made with a different config (differing keys: {keys}). Use another "
    "name (name=...), or discard that run first: `fairtune train CONFIG --overwrite` does."
)
RUN_OVERRIDE_SECTION = (
    "override {text!r}: {verb} changes only {sections} settings of an existing run; {key!r} would change "
    "what the run is. Train a new run instead: fairtune train CONFIG {text}."
)
RUN_NOT_EVALUATED = "{path}: no metrics.json yet. Evaluate first: fairtune evaluate {path}."
UNKNOWN_STAGE = "--force: unknown stage {stage!r}. Stages, in order: {stages}."
CORRUPT_JSON = (
    "{path}: not valid JSON ({detail}). The file is damaged; delete it and rerun the stage that writes it."
)
NO_CHECKPOINT = "{path}: --resume given but there is no checkpoint in {path}/checkpoints. Drop --resume."
PREDICT_NO_TEXTS = "predict: no texts given. Pass texts as arguments or --file PATH."
PREDICT_COLUMN = "--column: column {column!r} not in {path} (columns: {columns}). Pass --column NAME."


# --- encryption at rest -------------------------------------------------------------------------
KEYGEN_HINT = (
    "Make a key with `fairtune keygen` and export {env}=<key>; keep it safe: what is written with it cannot "
    "be read without it."
)
KEY_ENV_UNSET = (
    "encryption.key_env: the environment variable {env} is not set, so the run's artifacts that hold "
    "training text cannot be encrypted. " + KEYGEN_HINT
)
KEY_NOT_FERNET = (
    "encryption.key_env: {env} does not hold a Fernet key (32 url-safe base64-encoded bytes, 44 characters). "
    + KEYGEN_HINT
)
ENCRYPTED_NO_KEY = (
    "{path}: this file is encrypted; set {env} (the key it was written with) to read it. "
    "Without that key its contents cannot be recovered."
)
ENCRYPTED_WRONG_KEY = (
    "{path}: cannot be decrypted with the key in {env}: it was written with another key, or the file was "
    "altered. Set {env} to the key it was written with."
)
ENCRYPTED_BAD_KEY = (
    "{path}: is encrypted with the key in {env}, but {env} does not hold a Fernet key (32 url-safe "
    "base64-encoded bytes, 44 characters). Set {env} to the key it was written with."
)
ENCRYPTED_UNKNOWN_FORMAT = (
    "{path}: starts like a fairtune-encrypted file but its header ({header!r}) is not one this version "
    "reads. It was written by another version of fairtune, or the file is damaged."
)
RUN_KEY_MISSING = (
    "{path}: this run keeps its training text encrypted (encryption.key_env: {env}), and {env} holds no "
    "usable key. Set {env} to the key the run was written with."
)
NOT_ENCRYPTED = (
    "{path}: not encrypted (an encrypted file's first line is 'fairtune-encrypted v1 <VARIABLE>'); read it "
    "as it is."
)
ENCRYPTED_PRETRAIN_CHECKPOINTS = (
    "encryption.checkpoints: fairtune pretrain's checkpoints are the Hugging Face Trainer's, which fairtune "
    "cannot encrypt. Set encryption.checkpoints=false for pretraining (its model and checkpoints hold no "
    "training text), or pretrain without encryption."
)


# --- audits -------------------------------------------------------------------------------------
LEXICON_BAD = "{path}: line {line}: {problem}. See the format at the top of lexicons/gender.tsv."
LEXICON_MISSING = "{field}: folder not found: {path}. Point it at a folder of <dimension>.tsv lexicons."
TEMPLATES_MISSING = "{field}: file not found: {path}. Point it at a TSV of <label><TAB><template> lines."
TEMPLATE_BAD = (
    "{field}: {path}: line {line}: {problem}. Each line is <label><TAB><template> with one {{x}} slot."
)
TEMPLATES_EMPTY = (
    "{field}: {path} holds no template lines. Add <label><TAB><template> lines with a {{x}} slot."
)
TEMPLATE_HOLDS_TERM = (
    "{field}: evaluation template {template!r} ({path}, line {line}) holds the {dimension} lexicon term "
    "{term!r}, so the audit would measure that term in every sentence. Reword the template or remove the "
    "term from the lexicon."
)
BINARY_TEMPLATES = (
    "{field}: the labelled templates speak of positive and negative, which fits a task with two labels; "
    "this one has {labels}. Turn this part off, or write templates for a binary task."
)
LEXICON_UNKNOWN = "{field}: no lexicon for dimension {dim!r} (packaged{where}). Packaged dimensions: {known}."
EEC_MISSING = (
    "{field}: file not found: {path}. Point it at Equity-Evaluation-Corpus.csv (e.g. "
    "../shared/data/eec/Equity-Evaluation-Corpus.csv) or set it to null to skip the EEC."
)
EEC_COLUMNS = "{path}: not the EEC format: missing column(s) {missing}. Expected columns: {expected}."
GROUP_ONE_GROUP = (
    "{field}: column {column!r} holds a single group ({group!r}) in the eval data; group metrics need "
    "at least two. Use a column with several groups, or unset {field}."
)
AUDIT_EMPTY_EVAL = (
    "{what}: the eval set is empty after filtering ({detail}). Check data.eval, data.max_eval_rows "
    "and audit.{auditor}.max_eval_rows."
)
AUDIT_OVERRIDE_NOT_RUN = (
    "override {text!r}: --only leaves out the {name} audit, so this setting would be saved without being "
    "used. Add --only {name}, or drop the setting."
)
AUDIT_UNKNOWN = "--only: unknown auditor {name!r}. Available: {known}."
ADAPTER_UNKNOWN_KIND = (
    "model: fairtune cannot audit a {kind}. Pass a fairtune run or model folder, a Hugging Face folder or "
    "hub id, a transformers text-classification pipeline, an object with predict_proba(texts) (e.g. a "
    "scikit-learn pipeline), a function texts -> probabilities with labels=[...], or fairtune.endpoint(url)."
)
ADAPTER_NEEDS_LABELS = (
    "labels: a {kind} does not say which label each probability column is. Pass labels=[...] in column order "
    "(--labels NEG,POS on the command line)."
)
ADAPTER_BAD_OUTPUT = (
    "{source} returned {got}; expected {want}, one row per text with a column per label {labels}. Make it "
    "return probabilities (not labels or logits) in that label order."
)
MODEL_NOT_A_CLASSIFIER_FOLDER = (
    "model: {path} is neither a fairtune run (config.yaml and model/), a Hugging Face model folder "
    "(config.json) nor a scikit-learn model saved with skops (.skops). Point at one of them."
)
ENDPOINT_NO_TEXTS_SLOT = (
    'endpoint request: the template {template!r} has no "{{texts}}" value, so the texts have nowhere to go. '
    'Put "{{texts}}" where the API expects the list of texts, e.g. {{"inputs": "{{texts}}"}}.'
)
ENDPOINT_FAILED = "endpoint {url}: the request failed ({detail}). Check that the service runs and the URL."
ENDPOINT_BAD_RESPONSE = (
    "endpoint {url}: the response has no list of probabilities at {path!r} ({doc}). Set probabilities= to "
    "the path of the per-text probabilities, with * for a list, e.g. 'predictions.*.probabilities'."
)
DEVICE_UNAVAILABLE = (
    "{field}: {device} was asked for, but torch {torch} sees no GPU here (a CPU-only build, or no CUDA "
    "device). Set {field} to auto (the GPU when there is one) or cpu."
)
SKOPS_UNTRUSTED = (
    "model: {path} holds types skops does not trust by default ({types}); fairtune does not load them "
    "unreviewed. Review them, load the model yourself with skops.io.load(path, trusted=[...]) and pass the "
    "estimator to fairtune.classifier."
)
TLS_HALF = "{given}: HTTPS needs the certificate and its private key; pass {missing} too."
TLS_MISSING = (
    "{flag}: file not found: {path}. Pass the PEM file (e.g. from your CA, or openssl req -x509 for tests)."
)
TLS_BAD_FILES = (
    "--ssl-certfile {cert} / --ssl-keyfile {key}: these do not load as a PEM certificate chain and its "
    "private key ({detail}). Check that the certificate and the key are PEM files of one pair."
)
SERVE_VARIANT_REGRESSES = (
    "--variant {variant}: it fails gates that the fp32 model of {run} passes: {failures}. Serve the fp32 "
    "model or another variant, rebuild this one (fairtune compress), or pass --allow-gate-regressions to "
    "serve it anyway."
)
SWEEP_FORMAT = (
    "--sweep: {value!r} is not KEY=V1,V2,... with at least two different numbers. Pass e.g. "
    "--sweep clp_lambda=0.3,1,3."
)
SWEEP_KEY = "--sweep: {key!r} cannot be swept with --{kind}. Sweepable with --{kind}: {choices}."
SWEEP_NO_EFFECT = (
    "--sweep: {key} does not change --{kind} {method} (every value gives the same config). Sweep an "
    "option of this method, e.g. clp_lambda for clp, both or all; epsilon for adv or both (steps with "
    "--adv-method pgd); a2t_share, perturb_share, a2t_start, synonym_share or a2t_consistency for a2t "
    "or both."
)
SWEEP_INTEGER = "--sweep: {key} takes whole numbers, got {value!r}. Pass e.g. --sweep {key}=4,16."
SWEEP_SHARE = (
    "--validation-share: {value} is not a share between 0 and 0.5. Pass e.g. --validation-share 0.1 to hold "
    "out a tenth of the training rows for the sweep."
)
UPDATE_BAD_SETTING = "{flag}: {value} is outside [{lo}, {hi}]. Pass a value in that range."
UPDATE_TOO_FEW = (
    "--data: {path} has {n} labelled rows; an update needs at least 20 (some are held out to measure the "
    "gain). Add rows."
)
PRIVACY_NEEDS_TRAIN = (
    "privacy: the membership-inference audit needs the model's training texts (its members), and none were "
    "given. Pass train= to fairtune.audit (or --train FILE to `fairtune audit --model`), or leave privacy "
    "out with only=[...]."
)
POSITIVE_LABEL_UNKNOWN = "{field}: {label!r} is not one of the model's labels {labels}. Pick one of them."
ATTACK_RANKING_SLOW_TOKENIZER = (
    "train.attack.ranking: 'gradient' maps tokens to words by character offsets, which the tokenizer of "
    "{model!r} ({kind}) does not give. Use a model with a fast tokenizer (tokenizer.json), or set "
    "train.attack.ranking to leave_one_out."
)
WORDNET_MISSING = (
    "{field}: WordNet not found at {path} (missing {missing}). Install it with "
    "`sudo apt-get install --no-install-recommends wordnet-base` (what `make setup` does), or set {field} "
    "(or FAIRTUNE_WORDNET) to a folder holding WordNet 3.0's data.* and index.* files."
)
EXPLAIN_EMPTY = "explain: {where} is empty. Pass a text with at least one word."
EXPLAIN_NO_WORDS = (
    "explain: {where} ({text!r}) has only special characters and no word to attribute to. "
    "Pass a text with at least one letter or digit."
)
EXPLAIN_METHOD_UNKNOWN = "{field}: unknown explanation method {method!r}. Methods: {known}."
EXPLAIN_NEEDS_GRADIENTS = (
    "{field}: 'ig' needs gradients through the model's input embeddings, and this model ({kind}) gives "
    "only probabilities. Methods that work on it: {methods}."
)
EXPLAIN_SHAP_MISSING = (
    "explain: the 'shap' method needs the optional SHAP package. Install it with "
    "`pip install 'fairtune[shap]'` (or pip install shap), or use --method ig or occlusion."
)
EXPLAIN_NO_TEXTS = "explain: no text given. Pass a text as an argument or --file PATH."
MODEL_FILE_DAMAGED = (
    "{path}: cannot be read as safetensors ({detail}): the file is truncated or damaged. Copy it again "
    "from where it came from, or train the model again."
)
MODEL_NOT_FINITE = (
    "{path}: weight {param} holds {n} value(s) that are NaN or infinite, so every prediction would be "
    "NaN. The training diverged or the file was altered: train again (a lower train.lr helps divergence)."
)
API_KEY_EMPTY = (
    "--api-key-env: ${var} is set but empty, so the API would run with no key at all. Put the key in "
    "${var}, or unset it to serve without one."
)
UNSAFE_PICKLE = (
    "{path}: not a plain tensor file ({detail}). fairtune loads tensors and plain values only, never "
    "pickled Python objects, which can run code. If you wrote this run directory with this version of "
    "fairtune, the file is damaged: delete it (a checkpoint: its whole step-N folder) and train again."
)
MITIGATE_NOTHING = (
    "fairtune mitigate: choose one mitigation, e.g. --fairness cda (cda, clp, both, balance, all), "
    "--robustness adv (adv, a2t, augment, both) or --privacy dp (dp, redact)."
)
MITIGATE_UNUSED_OPTION = (
    "fairtune mitigate: {flag} does nothing with --robustness {method}. It is an option of {users}; "
    "leave it out or choose one of those."
)
MITIGATE_OTHER_KIND = (
    "fairtune mitigate: {flag} is a {owner} option ({what}), not one of --{kind} {method}. Use it with "
    "--{owner}, e.g. {example}."
)
SEEDS_RANGE = (
    "mitigate.seeds (--seeds): {value} is not a number of seeds from 1 to {most}. Pass e.g. --seeds 3 to "
    "train the parent and each mitigated child with 3 seeds."
)

COMPRESS_NOTHING = (
    "fairtune compress: choose at least one variant: --bf16, --int8, --onnx (ONNX fp32 and its dynamic and "
    "static int8), or --prune 0.3."
)
COMPRESS_PRUNE_AMOUNT = (
    "--prune: {value!r} is not a share of weights to remove. Pass a number in (0, 1), e.g. 0.3."
)
COMPRESS_PRUNE_STRUCTURED = (
    "--prune-method {method}: {arch} has no BERT-style encoder layers (encoder.layer[i].attention.output"
    ".dense and .output.dense) to prune {what} in. Use --prune-method magnitude, which works on any model."
)
COMPRESS_ONNX_FAILED = (
    "--onnx: the ONNX export of {arch} failed at {where} ({detail}). This architecture cannot be exported "
    "with torch.onnx here; use --int8 (PyTorch dynamic int8) or --bf16 instead."
)
VARIANT_UNKNOWN = (
    "{flag}: no compressed variant {name!r} in {path}. Variants there: {known}. Build one with "
    "fairtune compress {run} --int8 (or --onnx, --bf16, --prune 0.3)."
)
SERVE_PORT_IN_USE = (
    "--port: {host}:{port} is already in use by another process. Stop it, or pass another port, e.g. "
    "--port {other}."
)
MLM_NO_HEAD = (
    "audit mlm_bias: {model} has no trained masked-LM head, so its pseudo-likelihoods would measure a random "
    "head, not the model (the packaged MiniLM ships without one). Run it on an MLM checkpoint, e.g. the "
    "model of a `fairtune pretrain` run."
)
SERVE_BAD_LIMIT = "{field}: {reason} (got {value!r}). {fix}"


# --- monitor ------------------------------------------------------------------------------------
MONITOR_TEXT_COLUMN = (
    "--text-column: column {column!r} not in {path} (columns: {columns}). Pass --text-column NAME (the "
    "default is the run's data.text_column)."
)
MONITOR_LABEL_COLUMN = (
    "--label-column: column {column!r} not in {path} (columns: {columns}). --labels reads each text's label "
    "from it: pass --label-column NAME, or leave out --labels to monitor without accuracy."
)
MONITOR_TXT_LABELS = (
    "{path}: a .txt file holds texts only (one per line), no labels. Leave out --labels, or pass a .csv, "
    ".tsv, .jsonl or .parquet file with a label column."
)
MONITOR_NO_TEXTS = (
    "{path}: no texts in column {column!r}{blank}. Pass a file with at least monitor.min_window "
    "({min_window}) texts."
)
MONITOR_WINDOW_SMALL = (
    "{path}: {n} text(s), fewer than monitor.min_window ({min_window}); a drift test on so few says little. "
    "Collect at least {min_window} new texts, or lower the bar with monitor.min_window=N (10 at least)."
)
MONITOR_MISSING_LABELS = (
    "{path}: {n} text(s) without a label in column {column!r} (first at {where}). With --labels every text "
    "needs one: fill them in, or leave out --labels."
)
MONITOR_UNKNOWN_LABELS = (
    "{path}: label(s) {bad} in column {column!r} are not the model's labels {labels}. Fix those labels (a "
    "name, or an id 0..{top}), or leave out --labels to monitor without accuracy."
)
MONITOR_OVERRIDE = (
    "override {text!r}: fairtune monitor changes only monitor.* settings, and only for this call (e.g. "
    "monitor.alpha=0.01)."
)
MONITOR_GATES = (
    "{where}: must map drift.* metric names to bounds, e.g. {{drift.flagged: {{max: 0}}}}; {problem}. "
    "fairtune monitor checks only drift.* gates."
)
MONITOR_NO_REFERENCE = (
    "fairtune monitor compares new texts with the run's {which} texts, read once and then cached in {cache}, "
    "and cannot read them ({detail}). Make the run's data files readable again (paths in {config}), or set "
    "monitor.reference to a split that is there."
)

SERVE_MONITOR_NO_DATA = (
    "--monitor: {run} has no texts to compare served ones with: {missing} not found, and {cache} holds no "
    "reference for the model served ({model}). Put the run's data back where {config} says, or run "
    "`fairtune monitor {run} --data FILE` where the data is (that caches the reference), or serve without "
    "--monitor."
)
SERVE_MONITOR_VARIANT = (
    "--monitor: the drift window takes its embeddings from the served model's forward pass and compares "
    "them with a reference profiled by that model; it watches the run's own model (fp32 or bf16, following "
    "promotions), not a compressed variant ({variant}). Serve without --variant, or run `fairtune monitor "
    "RUN_DIR --data FILE` on collected texts."
)
SERVE_MONITOR_WINDOW = (
    "--monitor-window: {value} texts is fewer than the drift test needs: monitor.min_window is {min_window} "
    "in {config}. Pass --monitor-window {min_window} or more."
)


class FairtuneError(Exception):
    """An error that is the user's to fix. Carries one or more problems; the CLI exits with `exit_code`."""

    exit_code = 2

    def __init__(self, problems: str | list[str], header: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.header = header
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1 and not self.header:
            return self.problems[0]
        head = self.header or f"{len(self.problems)} problem(s):"
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


def collector(problems: list[str]) -> Callable[..., None]:
    """`attempt(fn, *args)`: call fn, and add the problems of a `FairtuneError` it raises to `problems`
    instead of stopping, so that every problem is reported at once."""

    def attempt(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except FairtuneError as exc:
            problems.extend(exc.problems)

    return attempt


class ConfigError(FairtuneError):
    """The config (or the data or model it names) is invalid. Holds every problem found."""


class DataError(FairtuneError):
    """A data file is missing, unreadable or malformed."""


class RunError(FairtuneError):
    """A run directory is missing, incomplete, damaged or belongs to another config."""


class EncryptionError(FairtuneError):
    """An encrypted file cannot be read (no key, another key, a damaged file) or written (no key)."""
