"""Test support (not part of the generated project): runs the project's Python on inputs the TypeScript tests
wrote, and prints the results as JSON for the tests to compare with TF.js.

    python check.py model DIR...    h and z of DIR/model.safetensors on DIR/pixels.safetensors (raw pixels)
    python check.py losses DIR      every case of DIR/losses.safetensors (views, labels, features, images, states)
    python check.py methods DIR     every case of DIR/methods.safetensors (m3col, supremix, mcl): the loss, its
                                    gradients (views, encoder weights) and the method's random draws
    python check.py pixpro DIR      every case of DIR/pixpro.safetensors: the correspondence masks, the loss and its
                                    gradients (encoder and heads), the target after a momentum update
    python check.py cmim DIR        every case of DIR/cmim.safetensors: the noise, the loss and its gradients (encoder
                                    and heads), the informative embeddings after the step
    python check.py mcl DIR         DIR/mcl.safetensors: an mcl run's stages driven by hand (losses, gradients,
                                    groups, representation) and k-means of random points
    python check.py augment DIR...  DIR/augment.safetensors: images and drawn parameters -> the augmented images
    python check.py config JSON     the default RunConfig, the loss catalogue, and parse_run_config of each
                                    RunConfig of the JSON list (the complete config or the error)
    python check.py synthetic JSON  the synthetic dataset of these options, as hex SHA-256 of its splits
    python check.py targets JSON SPECS SEED  apply_target (dataset.target) of that dataset for each spec: SHA-256, targets
"""

import hashlib
import json
import os
import sys

sys.path.insert(0, os.environ.get("PROJECT_DIR", os.path.join(os.path.dirname(__file__), "..", "project")))

import torch  # noqa: E402

import augment  # noqa: E402
import config as run_config  # noqa: E402
import data  # noqa: E402
import losses  # noqa: E402
import methods  # noqa: E402
import model  # noqa: E402
import safetensors_io  # noqa: E402


def check_model(*folders):
    return [model_outputs(folder) for folder in folders]


def model_outputs(folder):
    encoder, _, preprocessing = model.load_pretrained(os.path.join(folder, "model.safetensors"))
    tensors, _ = safetensors_io.load(os.path.join(folder, "pixels.safetensors"))
    with torch.no_grad():
        h, z = encoder(tensors["pixels"])
    return {"h": h.flatten().tolist(), "z": z.flatten().tolist(), "image_size": preprocessing["image_size"]}


def nchw(images):
    return images.permute(0, 3, 1, 2).contiguous()


def under(tensors, prefix):
    """The tensors named prefix/<TF.js layer>/<weight>."""
    return {name: t for name, t in tensors.items() if name.startswith(prefix + "/")}


def load_cases(folder, name):
    """<name>.safetensors of the folder (tensors, metadata with its cases and RunConfig) and the encoder of the
    run with the weights of model.safetensors."""
    tensors, metadata = safetensors_io.load(os.path.join(folder, f"{name}.safetensors"))
    config = run_config.parse_run_config(json.loads(metadata["run_config"]))
    weights, _ = safetensors_io.load(os.path.join(folder, "model.safetensors"))
    encoder = model.build_encoder(config, tuple(json.loads(metadata["image_shape"])))
    model.load_tfjs_weights(model.encoder_tfjs_tensors(encoder), weights)
    return tensors, metadata, json.loads(metadata["cases"]), config, encoder


def check_losses(folder):
    tensors, metadata, cases, config, encoder = load_cases(folder, "losses")
    views = [tensors[f"views.{v}"] for v in range(int(metadata["views"]))]
    features = [tensors[f"features.{v}"] for v in range(2)]
    images = [nchw(tensors[f"images.{v}"]) for v in range(2)]
    labels = tensors["labels"].to(torch.int64)
    results = {}
    for case in cases:
        loss_id, params, count = case["id"], case["params"], case["views"]
        batch = methods.Batch(views[:count], features, labels, images)
        if loss_id in losses.LOSSES:
            value = losses.LOSSES[loss_id](views[:count], labels=labels, **params)
        elif loss_id == "moco":
            objective = methods.MoCo(encoder, seed=0, **params)
            objective.queue.copy_(tensors["moco.queue"])
            value = objective(batch)
        elif loss_id in ("byol", "simsiam"):
            objective = methods.BYOL(encoder, **params) if loss_id == "byol" else methods.SimSiam(encoder, **params)
            if loss_id == "byol" or params.get("predictor", 1):
                model.load_tfjs_weights(model.tfjs_tensors(objective.predictor, loss_id), under(tensors, loss_id))
            value = objective(batch)
        elif loss_id == "swav":
            objective = methods.SwAV(encoder.embedding_dim, seed=0, steps_per_epoch=0, **params)
            with torch.no_grad():
                objective.prototypes.copy_(tensors["swav.prototypes"])
            value = objective(batch)
        elif loss_id == "hydra":
            widths = json.loads(metadata["hydra_widths"])
            objective = methods.Hydra(encoder.embedding_dim, int(metadata["classes"]), seed=0, widths=widths, **params)
            with torch.no_grad():
                objective.class_embedding.copy_(tensors["hydra.classEmbedding"])
                objective.log_scale.copy_(tensors["hydra.logScale"].reshape(()))
            model.load_tfjs_weights(model.tfjs_tensors(objective.gate, "hydra"), under(tensors, "hydra"))
            value = objective(batch, partner=tensors["hydra.partner"].to(torch.int64))
        elif loss_id == "amcl":
            objective = methods.AMCL(encoder.feature_dim, encoder.embedding_dim, config["projector"], **params)
            model.load_tfjs_weights(model.tfjs_tensors(objective, "amcl"), under(tensors, "amcl"))
            value = objective(batch)
        else:
            raise ValueError(f"no check for loss {loss_id}")
        results[case["name"]] = float(value)
    return results


def parameter_grads(module, prefix):
    """{TF.js name: gradient in TF.js layout} of the trainable weights under an encoder (0 where none flowed)."""
    grads = {}
    for name, target, _, to_tfjs in model.encoder_tfjs_tensors(module):
        if isinstance(target, torch.nn.Parameter):
            grad = target.grad if target.grad is not None else torch.zeros_like(target)
            grads[prefix + name] = to_tfjs(grad).flatten().tolist()
    return grads


def check_methods(folder):
    tensors, metadata, cases, config, encoder = load_cases(folder, "methods")
    images = [nchw(tensors[f"images.{v}"]) for v in range(2)]
    labels = tensors["labels"].to(torch.int64)
    seed = int(metadata["seed"])
    results = {}
    for case in cases:
        loss_id, params, step = case["id"], case["params"], case["step"]
        views = [tensors[f"views.{v}"].clone().requires_grad_(True) for v in range(2)]
        encoder.zero_grad(set_to_none=True)
        result = {}
        if loss_id == "m3col":
            objective = methods.M3CoL(encoder, case["totalSteps"], seed=seed, **params)
            n = views[0].shape[0]
            result["draws"] = [
                [t.tolist() for t in methods.draw_mix(seed, step, m, n, params["beta"], params["pMix"])] for m in range(2)
            ]
        elif loss_id == "supremix":
            objective = methods.SupReMix(seed, **params)
            rows = 2 * views[0].shape[0]
            rng = methods.step_rng(seed, step, 0)
            result["draws"] = methods.beta_draws(rng, rows * rows, params["alphaA"], params["alphaB"]).tolist()
        else:
            raise ValueError(f"no check for loss {loss_id}")
        value = objective(methods.Batch(views, None, labels, images, step, tensors["targets"]))
        value.backward()
        grads = {f"views.{i}": (v.grad if v.grad is not None else torch.zeros_like(v)).flatten().tolist() for i, v in enumerate(views)}
        grads.update(parameter_grads(encoder, ""))
        if getattr(objective, "second", None) is not None:
            grads.update(parameter_grads(objective.second, "second/"))
        results[case["name"]] = {**result, "value": float(value), "grads": grads}
    return results


def module_grads(module, prefix):
    """{prefix/TF.js name: gradient in TF.js layout} of a head's trainable weights (0 where none flowed)."""
    grads = {}
    for name, target, _, to_tfjs in model.tfjs_tensors(module, prefix):
        if isinstance(target, torch.nn.Parameter):
            grad = target.grad if target.grad is not None else torch.zeros_like(target)
            grads[name] = to_tfjs(grad).flatten().tolist()
    return grads


def check_pixpro(folder):
    """Each case: the encoder (DIR/model.<i>.safetensors), the target and the heads of pixpro.safetensors, one
    forward pass over the two views as train.py runs it, backward, then a momentum update."""
    tensors, metadata = safetensors_io.load(os.path.join(folder, "pixpro.safetensors"))
    image_shape = tuple(json.loads(metadata["image_shape"]))
    images = [nchw(tensors[f"images.{v}"]) for v in range(2)]
    geometry = [{key: tensors[f"geometry.{v}.{key}"] for key in augment.GEOMETRY} for v in range(2)]
    results = {}
    for i, case in enumerate(json.loads(metadata["cases"])):
        config = run_config.parse_run_config(case["config"])
        encoder = model.build_encoder(config, image_shape)
        weights, _ = safetensors_io.load(os.path.join(folder, f"model.{i}.safetensors"))
        model.load_tfjs_weights(model.encoder_tfjs_tensors(encoder), weights)
        objective = methods.PixPro(encoder, **config["loss"]["params"])
        parts = [
            (objective.target.backbone, "target/backbone"), (objective.target.projector, "target/projector"),
            (objective.target_pix, "target_pix"), (objective.pix, "pix"), (objective.transform, "transform"),
            (objective.predictor, "predictor"),
        ]
        for module, prefix in parts:
            if module is not None:
                model.load_tfjs_weights(model.tfjs_tensors(module, f"{i}/{prefix}"), under(tensors, f"{i}/{prefix}"))
        spatial, h, z = encoder.forward_spatial(torch.cat(images))
        maps = list(spatial.chunk(2))
        value = objective(methods.Batch(list(z.chunk(2)), None, None, images, 0, maps=maps, geometry=geometry))
        value.backward()
        grads = parameter_grads(encoder, "")
        for module, prefix in parts[3:]:
            if module is not None:
                grads.update(module_grads(module, prefix))
        objective.after_step(case["step"], case["totalSteps"], encoder)
        target = model.tfjs_state(
            [entry for module, prefix in parts[:3] for entry in model.tfjs_tensors(module, prefix)]
        )
        _, _, height, width = maps[0].shape
        masks = methods.correspondence_masks(geometry[0], geometry[1], height, width, config["loss"]["params"]["T"])
        results[case["name"]] = {
            "value": float(value), "grads": grads, "masks": masks.flatten().tolist(),
            "target": {name: t.flatten().tolist() for name, t in target.items()},
        }
    return results


def check_cmim(folder):
    """Each case: the encoder (DIR/<i>/model.safetensors) and heads of cmim.safetensors on the case's clean images,
    one training forward pass at the case's step, backward, then the informative embeddings of the means."""
    tensors, metadata = safetensors_io.load(os.path.join(folder, "cmim.safetensors"))
    results = {}
    for i, case in enumerate(json.loads(metadata["cases"])):
        config = run_config.parse_run_config(case["config"])
        images = nchw(tensors[f"{i}/images"])
        image_shape = tuple(case["imageShape"])
        encoder = model.build_encoder(config, image_shape)
        weights, _ = safetensors_io.load(os.path.join(folder, str(i), "model.safetensors"))
        model.load_tfjs_weights(model.encoder_tfjs_tensors(encoder), weights)
        objective = methods.CMIM(encoder.feature_dim, encoder.embedding_dim, image_shape, seed=case["seed"], **config["loss"]["params"])
        parts = [(objective.logvar, "logvar"), (objective.decoder, "decoder")]
        for module, prefix in parts:
            model.load_tfjs_weights(model.tfjs_tensors(module, f"{i}/{prefix}"), under(tensors, f"{i}/{prefix}"))
        h, z = encoder(images)
        value = objective(methods.Batch([z], [h], None, [images], case["step"]))
        value.backward()
        grads = parameter_grads(encoder, "")
        for module, prefix in parts:
            grads.update(module_grads(module, prefix))
        encoder.eval()
        with torch.no_grad():
            informative = objective.informative(encoder(images)[1])
        noise = objective.noise(case["step"], images.shape[0], encoder.embedding_dim)
        results[case["name"]] = {
            "value": float(value), "grads": grads, "noise": noise.flatten().tolist(),
            "informative": informative.flatten().tolist(),
        }
    return results


def check_mcl(folder):
    """An mcl run of three stages driven by hand: the stage losses and view gradients, the groups after each
    boundary, the optimizer resets, the representation at the end, and k-means of DIR's random points."""
    tensors, metadata = safetensors_io.load(os.path.join(folder, "mcl.safetensors"))
    config = run_config.parse_run_config(json.loads(metadata["run_config"]))
    params, seed, steps = json.loads(metadata["params"]), int(metadata["seed"]), json.loads(metadata["steps"])
    encoder = model.build_encoder(config, tuple(json.loads(metadata["image_shape"])))

    def load(name):
        weights, _ = safetensors_io.load(os.path.join(folder, name))
        model.load_tfjs_weights(model.encoder_tfjs_tensors(encoder), weights)

    load("model.safetensors")
    objective = methods.MCL(encoder, int(metadata["total_steps"]), int(metadata["train_count"]), seed=seed, **params)
    load("stage1.safetensors")
    resets = []
    indices = tensors["indices"].to(torch.int64)
    result = {"stages": []}
    for s, step in enumerate(steps):
        if s > 0:
            features = tensors[f"features.{s}"]
            objective.at_step_boundary(step, int(metadata["total_steps"]), lambda: features, lambda: resets.append(step))
            if s == 1:
                load("stage2.safetensors")
        views = [tensors[f"views.{s}.{v}"].clone().requires_grad_(True) for v in range(2)]
        value = objective(methods.Batch(views, None, None, None, step, None, indices))
        value.backward()
        result["stages"].append({
            "stage": objective.stage(), "groups": objective.groups.tolist(), "value": float(value),
            "grads": torch.cat([v.grad.flatten() for v in views]).tolist(),
        })
    images = nchw(tensors["images"])
    encoder.eval()
    with torch.no_grad():
        result["representation"] = objective.representation(encoder(images)[0], images).flatten().tolist()
    result["resets"] = resets
    result["kmeans"] = methods.kmeans(tensors["points"], int(metadata["k"]), int(metadata["kmeans_seed"]), 30).tolist()
    return result


def check_augment(*folders):
    return [augmented(folder) for folder in folders]


def augmented(folder):
    tensors, metadata = safetensors_io.load(os.path.join(folder, "augment.safetensors"))
    params = {name[len("params."):]: t for name, t in tensors.items() if name.startswith("params.")}
    for flag in ("flip", "jitter", "grayscale"):
        params[flag] = params[flag].to(torch.bool)
    params["order"] = params["order"].to(torch.int64)
    out = augment.apply_params(nchw(tensors["images"]), params, tuple(json.loads(metadata["out_size"])))
    return {"images": out.permute(0, 2, 3, 1).flatten().tolist()}


def check_config(configs_json="[]"):
    catalogue = {
        loss_id: {**info, "maxViews": None if info["maxViews"] == run_config.INF else info["maxViews"]}
        for loss_id, info in run_config.LOSSES.items()
    }
    return {
        "defaults": run_config.parse_run_config({}),
        "losses": catalogue,
        "parsed": [validate(config) for config in json.loads(configs_json)],
        "refused": {loss_id: refusal(loss_id) for loss_id in run_config.NOT_IN_PYTORCH},
    }


def refusal(loss_id):
    """build_objective's error for a loss the project cannot train (a valid config of it), None if it builds one."""
    config = run_config.parse_run_config({
        "loss": {"id": loss_id}, "views": {"large": run_config.LOSSES[loss_id]["minViews"]},
        "dataset": {"id": "synthetic", "target": "size" if loss_id in run_config.TARGET_LOSSES else "class"},
        "encoder": {"type": "convnet", "channels": [8]}, "projector": {"hidden": 8, "out": 4},
    })
    try:
        methods.build_objective(config, None, seed=0, num_classes=10, steps_per_epoch=1)
    except ValueError as error:
        return str(error)
    return None


def validate(config):
    try:
        return {"ok": True, "config": run_config.parse_run_config(config)}
    except run_config.ConfigError as error:
        return {"ok": False, "error": str(error)}


def check_targets(options_json, specs_json, seed):
    """apply_target of the synthetic dataset of these options for each spec: hex SHA-256 of each split's images, and
    its targets."""
    options = json.loads(options_json)
    synthetic = data.synthetic(options, options["seed"])
    digest = lambda split: hashlib.sha256(bytes(split.images.flatten().tolist())).hexdigest()  # noqa: E731
    results = []
    for spec in json.loads(specs_json):
        dataset = data.apply_target(synthetic, spec, int(seed))
        results.append({
            name: {"images": digest(split), "targets": None if split.targets is None else split.targets.tolist()}
            for name, split in (("train", dataset.train), ("test", dataset.test))
        })
    return results


def check_synthetic(options_json):
    options = json.loads(options_json)
    dataset = data.synthetic(options, options["seed"])
    digest = lambda split: hashlib.sha256(bytes(split.images.flatten().tolist())).hexdigest()  # noqa: E731
    return {"train": digest(dataset.train), "test": digest(dataset.test), "labels": dataset.train.labels.tolist()}


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    checks = {"model": check_model, "losses": check_losses, "methods": check_methods, "mcl": check_mcl, "pixpro": check_pixpro, "cmim": check_cmim, "augment": check_augment,
              "config": check_config, "synthetic": check_synthetic, "targets": check_targets}
    print(json.dumps(checks[command](*rest)))
