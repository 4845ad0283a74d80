"""RunConfig: the one JSON object that describes a run, read and validated as the playground does (src/engine/config.ts).

parse_run_config(data) fills every default and returns the complete config as a dict, or raises ConfigError that
lists every problem as `path: message (got value)`. Unknown fields are errors, so a typo never goes unnoticed.
LOSSES is the loss catalogue (src/losses/catalog.ts): views, labels and parameters with defaults and ranges.
"""

import json
import math

INF = math.inf
DATASET_IDS = ("fashion-mnist", "cifar10", "mnist", "synthetic")
DATASET_TARGETS = ("class", "rotation", "size")
OPTIMIZERS = ("sgd", "adam", "adamw", "lars")


def param(default, lo, hi, integer=False, exclusive_min=False):
    return {"default": default, "min": lo, "max": hi, "integer": integer, "exclusiveMin": exclusive_min}


TAU = param(0.5, 0.01, 10)
LOSSES = {
    "ntxent": {"minViews": 2, "maxViews": INF, "needsLabels": False, "params": {"tau": TAU}},
    "dcl": {"minViews": 2, "maxViews": 2, "needsLabels": False, "params": {"tau": param(0.1, 0.01, 10)}},
    "dclw": {"minViews": 2, "maxViews": 2, "needsLabels": False, "params": {"tau": param(0.1, 0.01, 10), "sigma": param(0.5, 0.01, 10)}},
    "supcon": {"minViews": 2, "maxViews": INF, "needsLabels": True, "params": {"tau": param(0.1, 0.01, 10)}},
    "mv_infonce": {"minViews": 2, "maxViews": INF, "needsLabels": False, "params": {"tau": TAU}},
    "mv_dhel": {"minViews": 2, "maxViews": INF, "needsLabels": False, "params": {"tau": TAU}},
    "align_uniform": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {"alpha": param(2, 1, 4), "t": param(2, 0, 10, exclusive_min=True), "lambda": param(1, 0, 100)},
    },
    "barlow_twins": {"minViews": 2, "maxViews": 2, "needsLabels": False, "params": {"lambda": param(0.0051, 0, 10)}},
    "vicreg": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {"sim": param(25, 0, 1000), "var": param(25, 0, 1000), "cov": param(1, 0, 1000)},
    },
    "cacr": {
        "minViews": 2, "maxViews": INF, "needsLabels": False,
        "params": {"alpha": param(1, 0, 100), "beta": param(1, 0, 100), "tPos": param(1, 0, 100), "tNeg": param(0.9, 0, 100)},
    },
    "clip": {"minViews": 2, "maxViews": 2, "needsLabels": False, "params": {"tau": param(0.07, 0.01, 10)}},
    "mnr": {"minViews": 2, "maxViews": 2, "needsLabels": False, "params": {"scale": param(20, 0.1, 100)}},
    "moco": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {"K": param(4096, 1, 65536, integer=True), "m": param(0.99, 0, 1), "tau": param(0.1, 0.01, 10)},
    },
    "byol": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {"baseEma": param(0.996, 0, 1), "predHidden": param(512, 1, 8192, integer=True)},
    },
    "simsiam": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "predHidden": param(512, 1, 8192, integer=True),
            "stopGradient": param(1, 0, 1, integer=True), "predictor": param(1, 0, 1, integer=True),
        },
    },
    "swav": {
        "minViews": 2, "maxViews": INF, "needsLabels": False,
        "params": {
            "K": param(100, 2, 4096, integer=True), "eps": param(0.05, 0.03, 1),
            "iters": param(3, 1, 20, integer=True), "tau": param(0.1, 0.01, 10),
        },
    },
    "hydra": {"minViews": 2, "maxViews": 2, "needsLabels": True, "params": {"beta": param(1, 0, 100), "s0": param(10, 1, 100)}},
    "amcl": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "heads": param(3, 1, 8, integer=True), "beta": param(1e-4, 0, 1),
            "tauMin": param(0.05, 0.01, 10), "tauMax": param(2.0, 0.01, 10),
        },
    },
    "m3col": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "tau": param(0.1, 0.01, 10), "beta": param(0.15, 0.01, 10), "pMix": param(0.5, 0, 1),
            "mixupFraction": param(0.33, 0, 1), "mixInput": param(1, 0, 1, integer=True),
            "modality": param(0, 0, 1, integer=True), "separateEncoder": param(0, 0, 1, integer=True),
        },
    },
    "supremix": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "tau": param(0.1, 0.01, 10), "window": param(5, 0, 1000), "lambda": param(1, 0, 100),
            "alphaA": param(2, 0.01, 100), "alphaB": param(8, 0.01, 100),
            "mixNeg": param(1, 0, 1, integer=True), "mixPos": param(1, 0, 1, integer=True),
        },
    },
    "mcl": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "tau": TAU, "stages": param(3, 1, 8, integer=True), "clusters": param(10, 2, 1000, integer=True),
            "stageSteps": param(0, 0, 10_000_000, integer=True), "reinit": param(1, 0, 1, integer=True),
        },
    },
    "pixpro": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "T": param(0.7, 0, 10), "gamma": param(2, 0, 10), "ppmLayers": param(1, 0, 2, integer=True),
            "baseMomentum": param(0.99, 0, 1), "pixHidden": param(256, 1, 8192, integer=True),
            "pixDim": param(64, 1, 4096, integer=True), "alpha": param(1, 0, 100),
            "predHidden": param(512, 1, 8192, integer=True),
        },
    },
    "cmim": {
        "minViews": 1, "maxViews": 1, "needsLabels": False,
        "params": {"lambda": param(1, 0, 10000), "tau": param(0.1, 0.01, 10), "decoderWidth": param(32, 1, 1024, integer=True)},
    },
    # catalogued so that their configs read as in the playground; methods.build_objective refuses to train them
    "beclr": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "lambdaNeg": param(0.1, 0, 10), "temp": param(2, 0.01, 10), "baseEma": param(0.996, 0, 1),
            "predHidden": param(128, 1, 8192, integer=True), "dyce": param(1, 0, 1, integer=True),
            "topk": param(5, 1, 64, integer=True), "partitions": param(16, 2, 4096, integer=True),
            "memory": param(1024, 16, 65536, integer=True), "startEpoch": param(1, 0, 10000),
        },
    },
    "sepclr": {
        "minViews": 2, "maxViews": 2, "needsLabels": False,
        "params": {
            "tau": param(0.5, 0.01, 10), "betaSalient": param(1000, 0, 100000),
            "betaReg": param(1000, 0, 100000), "lambdaJem": param(10, 0, 10000),
        },
    },
}
# losses that regress the dataset's continuous target per image (dataset.target other than "class")
TARGET_LOSSES = ("supremix",)
# losses of the catalogue this project cannot train, with their catalogue names (build_objective refuses them)
NOT_IN_PYTORCH = {
    "beclr": "BECLR (DyCE batch enhancement)",
    "sepclr": "SepCLR (common / salient)",
}


class ConfigError(ValueError):
    pass


MISSING = object()


def shown(value):
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


# ---- schema nodes: each is check(value, path, problems) -> value, filling the default when value is MISSING ----

def number(default=MISSING, lo=-INF, hi=INF, integer=False, above=None):
    def check(value, path, problems):
        if value is MISSING:
            if default is MISSING:
                problems.append(f"{path}: required")
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"{path}: expected a finite number (got {shown(value)})")
        elif integer and value != int(value):
            problems.append(f"{path}: expected an integer (got {shown(value)})")
        elif above is not None and not value > above:
            problems.append(f"{path}: must be > {above} (got {shown(value)})")
        elif value < lo or value > hi:
            problems.append(f"{path}: must be in [{lo}, {hi}] (got {shown(value)})")
        return value
    return check


def positive_int(hi, default=MISSING):
    return number(default, 1, hi, integer=True)


def boolean(default):
    def check(value, path, problems):
        if value is MISSING:
            return default
        if not isinstance(value, bool):
            problems.append(f"{path}: expected true or false (got {shown(value)})")
        return value
    return check


def string(default, max_length):
    def check(value, path, problems):
        if value is MISSING:
            return default
        if not isinstance(value, str) or len(value) > max_length:
            problems.append(f"{path}: expected a string of at most {max_length} characters (got {shown(value)})")
        return value
    return check


def choice(options, default=MISSING):
    def check(value, path, problems):
        if value is MISSING:
            if default is MISSING:
                problems.append(f"{path}: required, one of {', '.join(options)}")
            return default
        if value not in options:
            problems.append(f"{path}: expected one of {', '.join(map(str, options))} (got {shown(value)})")
        return value
    return check


def array(item, min_length, max_length):
    def check(value, path, problems):
        if value is MISSING:
            problems.append(f"{path}: required, a list of {min_length} to {max_length} values")
            return value
        if not isinstance(value, list) or not min_length <= len(value) <= max_length:
            problems.append(f"{path}: expected a list of {min_length} to {max_length} values (got {shown(value)})")
            return value
        return [item(v, f"{path}.{i}", problems) for i, v in enumerate(value)]
    return check


def pair(lo, hi, default):
    element = number(MISSING, lo, hi)

    def check(value, path, problems):
        if value is MISSING:
            return list(default)
        if not isinstance(value, list) or len(value) != 2:
            problems.append(f"{path}: expected [low, high] (got {shown(value)})")
            return value
        before = len(problems)
        result = [element(v, f"{path}.{i}", problems) for i, v in enumerate(value)]
        if len(problems) == before and result[0] > result[1]:
            problems.append(f"{path}: the first value must be <= the second (got {shown(value)})")
        return result
    return check


def obj(fields):
    """An object with these fields; a missing object takes every field's default; unknown fields are errors."""
    def check(value, path, problems):
        if value is MISSING:
            value = {}
        if not isinstance(value, dict):
            problems.append(f"{path or '(root)'}: expected an object (got {shown(value)})")
            return value
        for key in value:
            if key not in fields:
                problems.append(f"{path + '.' if path else ''}{key}: unknown field; known fields: {', '.join(fields)}")
        checked = {key: node(value.get(key, MISSING), f"{path + '.' if path else ''}{key}", problems) for key, node in fields.items()}
        return {key: v for key, v in checked.items() if v is not ABSENT}
    return check


ABSENT = object()


def absent_or(node):
    """An optional field: left out of the config when missing (no default), else checked by node."""
    def check(value, path, problems):
        return ABSENT if value is MISSING else node(value, path, problems)
    return check


PROTOCOL_TYPES = ("few-shot", "fine-tune", "contrastive-analysis")


def protocol(value, path, problems):
    """RunConfig.protocol (src/engine/protocols/config.ts): kept as given; parse_run_config refuses it."""
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in PROTOCOL_TYPES:
        problems.append(f"{path}.type: expected one of {', '.join(PROTOCOL_TYPES)} (got {shown(kind)})")
    return value


def nullable(node, default):
    def check(value, path, problems):
        if value is MISSING:
            value = default
        return None if value is None else node(value, path, problems)
    return check


def tagged(variants, default):
    """One of several objects told apart by their "type" field."""
    def check(value, path, problems):
        if value is MISSING:
            value = default
        kind = value.get("type") if isinstance(value, dict) else None
        if kind not in variants:
            problems.append(f"{path}.type: expected one of {', '.join(variants)} (got {shown(kind)})")
            return value
        return obj({"type": choice((kind,)), **variants[kind]})(value, path, problems)
    return check


def numbers_by_name(value, path, problems):
    if value is MISSING:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object of numbers (got {shown(value)})")
        return value
    return {key: number()(v, f"{path}.{key}", problems) for key, v in value.items()}


def range_(lo, hi, default):
    return number(default, lo, hi)


SCHEMA = obj({
    "name": string("", 200),
    "dataset": obj({
        "id": choice(DATASET_IDS, "fashion-mnist"),
        "trainLimit": number(0, 0, 10_000_000, integer=True),
        "standardize": choice(("channel", "none"), "channel"),
        "synthetic": obj({
            "classes": number(10, 2, 100, integer=True),
            "trainCount": positive_int(1_000_000, 2000),
            "testCount": positive_int(1_000_000, 500),
            "size": number(16, 4, 256, integer=True),
            "channels": choice((1, 3), 3),
            "noise": range_(0, 1, 0.06),
        }),
        "target": choice(DATASET_TARGETS, "class"),
        "maxRotation": range_(1, 180, 45),
    }),
    "encoder": tagged(
        {
            "mlp": {"hidden": array(positive_int(8192), 1, 8)},
            "convnet": {"channels": array(positive_int(2048), 1, 8)},
            "resnet": {"widths": array(positive_int(2048), 1, 6), "blocks": array(positive_int(16), 1, 6)},
        },
        {"type": "resnet", "widths": [32, 64, 128], "blocks": [1, 1, 1]},
    ),
    "projector": obj({
        "layers": number(2, 0, 4, integer=True),  # 0 = no projector (z = h)
        "hidden": positive_int(8192, 512),
        "out": positive_int(4096, 128),
        "batchNorm": boolean(True),
    }),
    "nn": obj({
        "init": choice(("tfjs", "torch"), "torch"),
        "padding": choice(("same", "symmetric"), "same"),
        "batchNormViews": choice(("joint", "per-view"), "joint"),
    }),
    "loss": obj({"id": choice(tuple(LOSSES), "ntxent"), "params": numbers_by_name}),
    "augment": obj({
        "crop": nullable(obj({"scale": pair(0.01, 1, [0.08, 1]), "ratio": pair(0.1, 10, [3 / 4, 4 / 3])}), {}),
        "flip": range_(0, 1, 0.5),
        "jitter": nullable(obj({
            "brightness": range_(0, 1, 0.4),
            "contrast": range_(0, 1, 0.4),
            "saturation": range_(0, 1, 0.4),
            "hue": range_(0, 0.5, 0.1),
            "p": range_(0, 1, 0.8),
        }), {}),
        "grayscale": range_(0, 1, 0.2),
    }),
    "views": obj({
        "large": number(2, 1, 16, integer=True),
        "small": number(0, 0, 16, integer=True),
        "smallSize": number(16, 4, 256, integer=True),
        "smallScale": pair(0.01, 1, [0.05, 0.4]),
    }),
    "batchSize": number(256, 2, 8192, integer=True),
    "epochs": number(10, hi=10_000, above=0),
    "stepsPerEpoch": number(0, 0, 10_000_000, integer=True),
    "optimizer": obj({
        "type": choice(OPTIMIZERS, "adamw"),
        "lr": number(1e-3, hi=100, above=0),
        "momentum": range_(0, 0.9999, 0.9),
        "weightDecay": range_(0, 1, 1e-6),
        "beta1": range_(0, 0.9999, 0.9),
        "beta2": range_(0, 0.99999, 0.999),
        "eps": number(1e-8, hi=1, above=0),
        "trustCoefficient": number(1e-3, hi=1, above=0),
    }),
    "schedule": obj({
        "type": choice(("cosine", "constant"), "cosine"),
        "warmupEpochs": range_(0, 1000, 0),
        "minLrFactor": range_(0, 1, 0),
    }),
    "seed": number(0, 0, 2**31 - 1, integer=True),
    "eval": obj({
        "every": number(100, 0, 1_000_000, integer=True),
        "size": number(2048, 10, 100_000, integer=True),
        "bankSize": number(10_000, 10, 1_000_000, integer=True),
        "knnK": positive_int(10_000, 200),
        "knnTemperature": number(0.1, hi=10, above=0),
        "linearProbe": boolean(False),
        "pca": boolean(True),
    }),
    "checkpointEvery": number(500, 0, 1_000_000, integer=True),
    "protocol": absent_or(protocol),
})


def resolve_loss_params(loss_id, params):
    """Every parameter of the loss, defaults filled in; raises ConfigError for unknown names or values out of range."""
    specs = LOSSES[loss_id]["params"]
    problems = [
        f"loss.params.{name}: loss '{loss_id}' has no parameter '{name}'; its parameters are: {', '.join(specs) or 'none'}"
        for name in params if name not in specs
    ]
    resolved = {}
    for name, spec in specs.items():
        value = params.get(name, spec["default"])
        low = "(" if spec["exclusiveMin"] else "["
        bad = (
            (spec["integer"] and value != int(value))
            or (value <= spec["min"] if spec["exclusiveMin"] else value < spec["min"])
            or value > spec["max"]
        )
        if bad:
            kind = "an integer" if spec["integer"] else "a number"
            problems.append(f"loss.params.{name}: loss '{loss_id}' needs {kind} in {low}{spec['min']}, {spec['max']}] (got {shown(value)})")
        resolved[name] = value
    if problems:
        raise ConfigError("invalid RunConfig:\n" + "\n".join(f"  - {p}" for p in problems))
    return resolved


def loss_id_inputs(loss_id):
    """What the loss trains on (catalog.ts inputs): 'geometry' for pixpro's pixel pairs, 'clean' for cmim."""
    return {"pixpro": "geometry", "cmim": "clean"}.get(loss_id, "augmented")


def parse_run_config(data):
    """The complete RunConfig from parsed JSON, or ConfigError listing every problem."""
    problems = []
    config = SCHEMA(data if data is not None else {}, "", problems)
    if not problems and "protocol" in config:
        problems.append(
            f"protocol: the PyTorch project does not implement protocol '{config['protocol']['type']}' (its data split "
            "and evaluation exist in the playground only); model.safetensors still loads with model.load_pretrained"
        )
    if not problems:
        info = LOSSES[config["loss"]["id"]]
        try:
            config["loss"]["params"] = resolve_loss_params(config["loss"]["id"], config["loss"]["params"])
        except ConfigError as error:
            problems += [line[4:] for line in str(error).splitlines()[1:]]
        views = config["views"]["large"] + config["views"]["small"]
        if not info["minViews"] <= views <= info["maxViews"]:
            lo, hi = info["minViews"], info["maxViews"]
            allowed = f">= {lo}" if hi == INF else f"{lo}" if lo == hi else f"{lo}..{hi}"
            problems.append(
                f"views: loss '{config['loss']['id']}' needs {allowed} views in total, the config gives {views} (views.large + views.small)"
            )
        if loss_id_inputs(config["loss"]["id"]) == "geometry":
            # pixel pairs need a spatial map and two views of one size (config.ts)
            if config["encoder"]["type"] == "mlp":
                problems.append(
                    f"encoder: loss '{config['loss']['id']}' pairs pixels of the backbone's spatial map; the mlp encoder has none, use convnet or resnet"
                )
            if config["views"]["small"] > 0:
                problems.append(
                    f"views.small: loss '{config['loss']['id']}' compares two views of the same size; set views.small to 0 and views.large to 2"
                )
            if config["nn"]["batchNormViews"] == "per-view":
                problems.append(
                    f"nn.batchNormViews: loss '{config['loss']['id']}' runs its two views through BatchNorm together; set nn.batchNormViews to 'joint'"
                )
        if config["dataset"]["target"] == "size" and config["dataset"]["id"] != "synthetic":
            problems.append(
                f"dataset.target: 'size' is the synthetic shapes' radius; dataset '{config['dataset']['id']}' has no size target, use 'rotation' or the synthetic dataset"
            )
        if config["loss"]["id"] in TARGET_LOSSES and config["dataset"]["target"] == "class":
            problems.append(
                f"dataset.target: loss '{config['loss']['id']}' regresses a continuous target per image; set dataset.target to 'rotation' (or 'size' on the synthetic dataset)"
            )
        if config["views"]["small"] > 0 and config["encoder"]["type"] == "mlp":
            problems.append("views.small: multi-crop small views need an encoder with global pooling (convnet or resnet), not mlp")
        encoder = config["encoder"]
        if encoder["type"] == "resnet" and len(encoder["widths"]) != len(encoder["blocks"]):
            problems.append(
                f"encoder: resnet widths ({len(encoder['widths'])} stages) and blocks ({len(encoder['blocks'])}) must have the same length"
            )
    if problems:
        raise ConfigError("invalid RunConfig:\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def load_run_config(path):
    """parse_run_config of a JSON file, with the file named in every error."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"could not read the RunConfig {path}: {error}") from error
    try:
        return parse_run_config(data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


if __name__ == "__main__":
    # `python config.py run.json` checks a config and prints it complete; without a file, the defaults.
    import sys

    try:
        complete = load_run_config(sys.argv[1]) if len(sys.argv) > 1 else parse_run_config({})
    except ConfigError as error:
        sys.exit(str(error))
    print(json.dumps(complete, indent=2))
