"""Notebook 6: load_pretrained, build_transfer_model, start_fine_tuning."""

from __future__ import annotations

import numpy as np

from ..exercise import Exercise
from ..expected import fresh_seed
from ..graph import activation_after, chain_text, kind
from ..harness import call_learner, expect, guarded, passed, short
from ..keras_internals import residual_block_v1, zero_initialised
from .common import BN_EPSILON, close, expect_model, lazy_keras, limit, one_training_step, randomize

# =========================================================================== transfer learning
# load_pretrained: the learner's ResNet50 receives the weights of a headless keras.applications.ResNet50.
PRETRAINED_CONFIGS = [((64, 64, 3), 4)]        # (input shape, classes of the new task)
TRANSFER_HEADS = [dict(units=16, dropout=0.3, l2=1e-3, learning_rate=3e-3),
                  dict(units=8, dropout=0.5, l2=0.0, learning_rate=1e-3)]
FINE_TUNE_CONFIGS = [(1, 3e-4), (2, 2e-5)]     # (stages to unfreeze, learning rate of phase 2)


def _all_sublayers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_sublayers(layer)


def _check_load_pretrained(ex, target, input_shape, classes, seed):
    __tracebackhide__ = True
    keras = lazy_keras()
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    with zero_initialised():  # randomize sets every weight
        reference = keras.applications.ResNet50(weights=None, include_top=False, input_shape=input_shape)
    randomize(reference, rng)
    before = [np.array(w) for w in reference.get_weights()[:4]]
    model = call_learner(ex, target, reference, classes, timeout=limit('model'))
    expect_model(ex, model)
    where = f"for a reference with input shape {input_shape} and classes={classes}"
    expect(model is not reference, ex, "the function returns a new model, your own ResNet50", "a new keras.Model",
           "the reference model itself", "build ResNet50(...) and copy the reference's weights into it")
    shared = {id(layer) for layer in reference.layers} & {id(layer) for layer in _all_sublayers(model)}
    expect(not shared, ex, "your model shares no layer with the reference", "no shared layer",
           f"{len(shared)} shared layers", "build a new ResNet50(...) and copy the weights; don't reuse the reference's layers")
    expect(tuple(model.input_shape[1:]) == tuple(input_shape), ex, f"input shape {where}", (None, *input_shape),
           model.input_shape, "build ResNet50 with input_shape=reference.input_shape[1:]")
    expect(tuple(model.output_shape) == (None, classes), ex, f"output shape {where}", (None, classes),
           model.output_shape, "build ResNet50 with classes=classes: the new task's classes, not the old task's")
    gaps = [layer for layer in model.layers if kind(layer) == "gap"]
    expect(len(gaps) == 1, ex, "one GlobalAveragePooling2D layer before the classifier", 1, len(gaps),
           "use your ResNet50 of the ResNet-50 notebook")
    body = keras.Model(model.input, gaps[0].input)
    x = rng.uniform(0, 1, (2, *input_shape)).astype("float32")
    got = keras.ops.convert_to_numpy(body(x, training=False))
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    expect(got.shape == expected.shape and close(got, expected), ex,
           f"the features your model feeds its GlobalAveragePooling2D (inference mode) {where}",
           f"the reference's outputs {short(expected)}", f"{short(got)}",
           "copy every weight of the reference (moving statistics included) into the layers before the "
           "GlobalAveragePooling2D: copy_weights(reference, keras.Model(model.input, gap_layer.input))")
    expect(all(np.array_equal(a, b) for a, b in zip(before, reference.get_weights()[:4])), ex,
           "the reference model is left unchanged", "unchanged", "changed", "copy from the reference, not into it")
    return model


def load_pretrained_test(target):
    """Check ``load_pretrained(reference, classes)`` against a headless keras.applications.ResNet50."""
    __tracebackhide__ = True
    ex = "load_pretrained"
    with guarded(ex):
        for input_shape, classes in PRETRAINED_CONFIGS:
            _check_load_pretrained(ex, target, input_shape, classes, seed=810)
    passed(ex, "a new model, input and output shapes, features equal to the reference's in inference mode")


def load_pretrained_hidden_test(target, seed=None):
    """Re-check ``load_pretrained`` on a fresh input size, number of classes and weights."""
    __tracebackhide__ = True
    ex = "load_pretrained"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    side, classes = int(rng.choice([32, 48, 80])), int(rng.integers(2, 9))
    with guarded(ex):
        _check_load_pretrained(ex, target, (side, side, 3), classes, seed)
    passed(ex + " (hidden)", f"input {side}x{side}, {classes} classes, fresh weights (seed={seed})")


def _probe_pretrained(rng, input_shape=(32, 32, 3), classes=5, widths=(4, 8, 8)):
    """A small pretrained-like classifier shaped like ResNet-50: stem, stages of bottleneck blocks, GAP, softmax.

    Stage k halves the resolution (except the first), as in ResNet-50, so its layers can be told apart
    by the size of their outputs; a max-pool after the stem, as in ResNet-50, puts the stem's convolution
    at twice the first stage's size, so that it belongs to no stage. Returns the model with random weights.
    """
    keras = lazy_keras()
    L = keras.layers
    tag = int(rng.integers(10**6))
    inp = keras.Input(input_shape)
    x = L.Conv2D(8, 3, strides=2, padding="same", name=f"stem_conv_{tag}")(inp)
    x = L.BatchNormalization(epsilon=BN_EPSILON, name=f"stem_bn_{tag}")(x)
    x = L.Activation("relu")(x)
    x = L.MaxPooling2D(3, strides=2, padding="same", name=f"stem_pool_{tag}")(x)
    for k, width in enumerate(widths):
        x = residual_block_v1(x, width, stride=1 if k == 0 else 2, name=f"s{k + 2}_b1_{tag}")
        x = residual_block_v1(x, width, conv_shortcut=False, name=f"s{k + 2}_b2_{tag}")
    x = L.GlobalAveragePooling2D(name=f"pool_{tag}")(x)
    out = L.Dense(classes, activation="softmax", name=f"old_head_{tag}")(x)
    model = keras.Model(inp, out, name=f"pretrained_{tag}")
    randomize(model, rng)
    return model


def _weights_of(layers_):
    return {id(w) for layer in layers_ for w in layer.weights}


def _nested_bases(ex, model, pretrained):
    """The nested model of ``model`` that holds the pretrained layers (the base)."""
    __tracebackhide__ = True
    keras = lazy_keras()
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    expect(len(nested) == 1, ex, "the pretrained part is one nested model (one layer of the transfer model)",
           "1 nested model", f"{len(nested)}",
           "base = keras.Model(pretrained.input, <input of its GlobalAveragePooling2D>), then call base(inputs) "
           "in the new model")
    return nested[0]


def _expect_adam_and_crossentropy(ex, model, phase):
    """The optimizer and loss the specification names: Adam (not a subclass such as AdamW) and categorical
    cross-entropy on one-hot labels (the name, the class or the function)."""
    import keras

    opt = getattr(model, "optimizer", None)
    expect(type(opt).__name__ == "Adam", ex, f"optimizer for {phase}", "keras.optimizers.Adam",
           type(opt).__name__ if opt is not None else "none",
           "compile with optimizer=keras.optimizers.Adam(learning_rate): the learning rates of the two phases "
           "were chosen for Adam")
    loss = getattr(model, "loss", None)
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", None)
    ok = name == "categorical_crossentropy" and not (
        isinstance(loss, keras.losses.CategoricalCrossentropy) and (loss.from_logits or loss.label_smoothing))
    expect(ok, ex, f"loss for {phase}", "'categorical_crossentropy'", repr(loss) if not name else repr(name),
           "loss=\"categorical_crossentropy\": the labels are one-hot and the head ends with a softmax")


def _check_transfer(ex, target, rng, head, classes=3, fit=False):
    __tracebackhide__ = True
    keras = lazy_keras()
    L = keras.layers
    pretrained = _probe_pretrained(rng)
    old_head = pretrained.layers[-1]
    x = rng.uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    old_out = keras.ops.convert_to_numpy(pretrained(x, training=False))
    model = call_learner(ex, target, pretrained, classes, **head, timeout=limit('model'))
    expect_model(ex, model)
    where = f"for classes={classes}, " + ", ".join(f"{k}={v}" for k, v in head.items())
    expect(tuple(model.output_shape) == (None, classes), ex, f"output shape {where}", (None, classes),
           model.output_shape, "the new head ends with Dense(classes, activation='softmax')")
    everything = list(_all_sublayers(model))
    expect(all(layer is not old_head for layer in everything), ex,
           "the head must be new: the pretrained model's classifier is not part of the transfer model",
           "no layer of the old head", f"'{old_head.name}' (the old Dense) is in your model",
           "cut the pretrained model at the input of its GlobalAveragePooling2D and build new head layers on it")
    base = _nested_bases(ex, model, pretrained)
    pre_layers = [layer for layer in pretrained.layers if layer is not old_head and layer.weights]
    expect(all(any(layer is b for b in base.layers) for layer in pre_layers), ex,
           "the base holds the pretrained layers themselves (with their weights)", "the pretrained layers",
           "other layers", "build the base from pretrained.input and pretrained's layers; don't rebuild them")
    head_layers = [layer for layer in model.layers if layer is not base and not isinstance(layer, L.InputLayer)]
    expect(all(all(layer is not p for p in pretrained.layers) for layer in head_layers), ex,
           "the head must be new: its layers are created here", "new layers",
           "layers of the pretrained model", "create new GlobalAveragePooling2D, LayerNormalization, Dense and Dropout layers")
    # Phase 1: nothing of the base trains, BatchNorm included.
    bn_trainable = [layer.name for layer in base.layers if isinstance(layer, L.BatchNormalization)
                    and any(w is v for v in model.trainable_weights for w in layer.weights)]
    expect(not bn_trainable, ex, "phase 1: every BatchNormalization layer of the base is frozen (inference mode)",
           "trainable=False", f"{bn_trainable[:3]} trainable", "freeze the whole base: base.trainable = False")
    base_ids = _weights_of(pre_layers)
    trainable_base = [w.path for w in model.trainable_weights if id(w) in base_ids]
    expect(not trainable_base, ex, "phase 1 trains the head only: no weight of the pretrained base is trainable",
           "0 trainable base weights", f"{len(trainable_base)} (e.g. {trainable_base[0] if trainable_base else ''})",
           "freeze the whole base before phase 1: base.trainable = False")
    # Head: GAP -> LayerNormalization -> Dense(units, relu, L2) -> Dropout(rate) -> Dense(classes, softmax).
    kinds = [kind(layer) for layer in head_layers]
    head_chain = chain_text(kinds)  # kind() names LayerNormalization and Dropout by their class
    expect("gap" in kinds, ex, "the head pools the feature map with GlobalAveragePooling2D", "a GlobalAveragePooling2D",
           chain_text(kinds), "add layers.GlobalAveragePooling2D() right after the base")
    norms = [i for i, layer in enumerate(head_layers) if isinstance(layer, L.LayerNormalization)]
    gap_at = kinds.index("gap")
    first_dense = next((i for i, k in enumerate(kinds) if k == "dense"), len(kinds))
    expect(any(gap_at < i < first_dense for i in norms), ex,
           "the head normalises the pooled features: GlobalAveragePooling2D -> LayerNormalization -> Dense",
           "a LayerNormalization between the pooling and the hidden Dense", head_chain,
           "add layers.LayerNormalization() right after the GlobalAveragePooling2D: the pooled features share "
           "a large common part, which the hidden Dense cannot learn around")
    at = [i for i, layer in enumerate(head_layers) if kind(layer) == "dense"]
    denses = [head_layers[i] for i in at]
    acts = [activation_after(head_layers, i) for i in at]  # Dense(8) + Activation("relu") is Dense(8, "relu")
    expect(len(denses) >= 2 and denses[-1].units == classes and acts[-1] == "softmax"
           and any(d.units == head["units"] and a == "relu" for d, a in zip(denses[:-1], acts[:-1])), ex,
           f"dense layers of the head {where}",
           f"Dense({head['units']}, activation='relu') ... Dense({classes}, activation='softmax')",
           ", ".join(f"Dense({d.units}, {a})" for d, a in zip(denses, acts)) or "no Dense",
           "a hidden Dense(units, activation='relu'), then the classifier Dense(classes, activation='softmax')")
    hidden = next(d for d, a in zip(denses[:-1], acts[:-1]) if d.units == head["units"] and a == "relu")
    rates = [float(layer.rate) for layer in head_layers if isinstance(layer, L.Dropout)]
    expect(head["dropout"] in [round(r, 6) for r in rates], ex, f"Dropout of the head {where}",
           f"a Dropout(rate={head['dropout']})", f"rates {rates}", "use the dropout argument: layers.Dropout(dropout)")
    drop_at = [i for i, layer in enumerate(head_layers) if isinstance(layer, L.Dropout)]
    hidden_at = head_layers.index(hidden)
    expect(any(hidden_at < i < at[-1] for i in drop_at), ex, "the Dropout's place in the head",
           "Dense(units, relu) -> Dropout -> Dense(classes, softmax)", head_chain,
           "drop the hidden Dense's outputs: layers.Dropout(dropout) between the hidden Dense and the classifier")
    reg = hidden.kernel_regularizer
    factor = float(getattr(reg, "l2", 0.0) or 0.0) if reg is not None else 0.0
    expect(abs(factor - head["l2"]) <= 1e-9 * max(1.0, head["l2"]) and (reg is None or not getattr(reg, "l1", 0.0)), ex,
           f"L2 regularisation of the hidden Dense's kernel {where}",
           f"L2({head['l2']})" if head["l2"] else "none (or L2(0))", f"{type(reg).__name__}({factor})" if reg else "none",
           "kernel_regularizer=keras.regularizers.L2(l2) when l2 > 0, and no regularizer when l2 == 0")
    # Compiled for phase 1 with the given learning rate.
    expect(getattr(model, "optimizer", None) is not None and model.compiled, ex, "the model is compiled for phase 1",
           "compiled", "not compiled", "end with model.compile(optimizer=keras.optimizers.Adam(learning_rate), ...)")
    _expect_adam_and_crossentropy(ex, model, "phase 1")
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    expect(abs(lr - head["learning_rate"]) <= 1e-6 * head["learning_rate"], ex, f"optimizer learning rate {where}",
           head["learning_rate"], lr, "keras.optimizers.Adam(learning_rate)")
    expect(close(keras.ops.convert_to_numpy(pretrained(x, training=False)), old_out), ex,
           "the pretrained model computes what it computed before", "unchanged outputs", "changed",
           "build the transfer model around the pretrained layers; don't modify their weights")
    if not fit:
        return
    # Behaviour: fit trains the head and leaves the base alone.
    state = [np.array(w) for w in base.weights]
    head_kernel = np.array(denses[-1].kernel)
    one_training_step(model, x, np.eye(classes)[rng.integers(0, classes, len(x))])
    changed = [w.path for w, a in zip(base.weights, state) if not np.array_equal(np.array(w), a)]
    expect(not changed, ex, "phase 1: fit changes no weight of the base (moving statistics included)", "no change",
           f"{len(changed)} changed (e.g. {changed[0] if changed else ''})",
           "freeze the base (base.trainable = False) before compiling")
    expect(not np.array_equal(head_kernel, np.array(denses[-1].kernel)), ex, "phase 1: fit trains the new head",
           "the classifier's kernel changes", "unchanged", "leave the head layers trainable")


def build_transfer_model_test(target):
    """Check ``build_transfer_model(pretrained, classes, ...)`` on a small ResNet-shaped classifier."""
    __tracebackhide__ = True
    ex = "build_transfer_model"
    rng = np.random.default_rng(820)
    with guarded(ex):
        for i, head in enumerate(TRANSFER_HEADS):
            _check_transfer(ex, target, rng, head, fit=i == 0)
    passed(ex, "a new head (GAP, LayerNormalization, Dense, Dropout, L2, softmax), frozen base and BatchNorm, learning rate, fit")


def build_transfer_model_hidden_test(target, seed=None):
    """Re-check ``build_transfer_model`` with fresh sizes, rates and weights."""
    __tracebackhide__ = True
    ex = "build_transfer_model"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    head = dict(units=int(rng.integers(5, 40)), dropout=float(rng.choice([0.2, 0.4, 0.6])),
                l2=float(rng.choice([0.0, 1e-4, 1e-2])), learning_rate=float(rng.choice([1e-3, 5e-4, 2e-3])))
    with guarded(ex):
        _check_transfer(ex, target, rng, head, classes=int(rng.integers(2, 7)))
    passed(ex + " (hidden)", f"a fresh head configuration (seed={seed})")


def _probe_transfer(rng, classes=3, learning_rate=1e-3):
    """A transfer model as build_transfer_model makes it (nested frozen base, new head), after phase 1.

    Instead of a real fit, the training step of phase 1 is created (not traced): what matters is that
    it exists, so that only a new compile makes fit see changed ``trainable`` flags.
    """
    keras = lazy_keras()
    L = keras.layers
    pretrained = _probe_pretrained(rng)
    gap = next(layer for layer in pretrained.layers if kind(layer) == "gap")
    base = keras.Model(pretrained.input, gap.input, name=f"features_{int(rng.integers(10**6))}")
    base.trainable = False
    inp = keras.Input(pretrained.input_shape[1:])
    x = L.GlobalAveragePooling2D()(base(inp, training=False))
    x = L.Dropout(0.3)(L.Dense(8, activation="relu")(x))
    model = keras.Model(inp, L.Dense(classes, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy")
    images = rng.uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    labels = np.eye(classes)[rng.integers(0, classes, len(images))]
    model.make_train_function()
    return model, base, images, labels


def _flags(values) -> str:
    return "".join("T" if v else "." for v in values)


def _check_fine_tuning(ex, target, rng, stages, learning_rate):
    __tracebackhide__ = True
    keras = lazy_keras()
    L = keras.layers
    model, base, x, y = _probe_transfer(rng)
    last = int(base.output.shape[1])
    convs = [layer for layer in base.layers if isinstance(layer, L.Conv2D)]
    expected = [int(layer.output.shape[1]) <= last * 2 ** (stages - 1) for layer in convs]
    where = f"with stages={stages}, learning_rate={learning_rate} (phase 1 used 0.001)"
    count = call_learner(ex, target, model, stages=stages, learning_rate=learning_rate, timeout=limit('model'))
    got = [layer.trainable and base.trainable for layer in convs]
    expect(got == expected, ex, f"trainable flags of the base's Conv2D layers in graph order (T: trainable) {where}",
           _flags(expected), _flags(got),
           f"unfreeze exactly the Conv2D layers of the last {stages} stage(s): those whose output is at most "
           f"{2 ** (stages - 1)} times as high as the base's last feature map; keep every other base layer frozen "
           "(everything unfrozen at once destroys what the pretrained layers learned)")
    bns = [layer for layer in base.layers if isinstance(layer, L.BatchNormalization)]
    trainable_bns = [layer.name for layer in bns if layer.trainable and base.trainable]
    expect(not trainable_bns, ex, f"every BatchNormalization layer stays frozen (inference mode) {where}",
           "trainable=False for all", f"{len(trainable_bns)} trainable, e.g. '{trainable_bns[0] if trainable_bns else ''}'",
           "unfreeze the Conv2D layers only; a trainable BatchNorm would normalise the small batches of the new task "
           "with their own statistics and overwrite the pretrained moving statistics")
    others = [layer.name for layer in base.layers if layer.weights and layer.trainable and base.trainable
              and not isinstance(layer, (L.Conv2D, L.BatchNormalization))]
    expect(not others, ex, "no other base layer is unfrozen", "none", others[:3], "unfreeze Conv2D layers only")
    head = [layer for layer in model.layers if layer is not base and layer.weights]
    expect(all(layer.trainable for layer in head), ex, "the head keeps training in phase 2", "trainable head",
           [layer.name for layer in head if not layer.trainable], "leave the head layers trainable")
    expect(isinstance(count, (int, np.integer)) and int(count) == sum(expected), ex,
           "the function returns the number of Conv2D layers it unfroze", sum(expected), count, "return the count")
    _expect_adam_and_crossentropy(ex, model, "phase 2")
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    expect(abs(lr - learning_rate) <= 1e-6 * learning_rate, ex, f"optimizer learning rate for phase 2 {where}",
           learning_rate, lr, "recompile with keras.optimizers.Adam(learning_rate): phase 2 uses a learning rate "
           "10 to 100 times lower than phase 1, so the pretrained weights move only a little")
    same = close(keras.ops.convert_to_numpy(base(x, training=True)), keras.ops.convert_to_numpy(base(x, training=False)))
    expect(same, ex, "the base gives the same features with training=True and training=False (BatchNorm in inference mode)",
           "equal", "different", "keep every BatchNormalization layer at trainable=False")
    compiled = getattr(model, "_compiled_trainable_state", None)
    stale = model.train_function is not None or (compiled is not None and any(
        compiled.get(layer, layer.trainable) != layer.trainable for layer in model._flatten_layers()))
    expect(not stale, ex, "the model is compiled again after the trainable flags changed",
           "a new model.compile(...)", "fit would reuse the training step of phase 1",
           "recompile the model after changing trainable: fit keeps its old training step (and its old "
           "list of trainable weights) until model.compile is called")


def start_fine_tuning_test(target):
    """Check ``start_fine_tuning(model, stages, learning_rate)`` on a small transfer model after phase 1."""
    __tracebackhide__ = True
    ex = "start_fine_tuning"
    rng = np.random.default_rng(830)
    with guarded(ex):
        for stages, learning_rate in FINE_TUNE_CONFIGS:
            _check_fine_tuning(ex, target, rng, stages, learning_rate)
    passed(ex, "Conv2D flags layer by layer, BatchNorm frozen, head trainable, learning rate, recompiled")


def start_fine_tuning_hidden_test(target, seed=None):
    """Re-check ``start_fine_tuning`` with a fresh number of stages, learning rate and weights."""
    __tracebackhide__ = True
    ex = "start_fine_tuning"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    stages, learning_rate = int(rng.integers(1, 4)), float(rng.choice([1e-4, 5e-5, 1e-5]))
    with guarded(ex):
        _check_fine_tuning(ex, target, rng, stages, learning_rate)
    passed(ex + " (hidden)", f"stages={stages}, learning_rate={learning_rate} (seed={seed})")


EXERCISES = (
    Exercise("load_pretrained", "06_transfer_learning", 10, load_pretrained_test, load_pretrained_hidden_test),
    Exercise("build_transfer_model", "06_transfer_learning", 10, build_transfer_model_test,
             build_transfer_model_hidden_test),
    Exercise("start_fine_tuning", "06_transfer_learning", 10, start_fine_tuning_test, start_fine_tuning_hidden_test),
)
