"""Notebook 7: preactivation_block and grad_cam."""

from __future__ import annotations

import numpy as np

from ..exercise import Exercise
from ..expected import fresh_seed
from ..graph import KIND_NAMES, chain_back, chain_text, kind, kinds_with_fused
from ..guard import expect_untampered
from ..harness import call_learner, describe, expect, failure, guarded, passed, short
from ..keras_internals import producer, residual_block_v2
from .common import (
    BATCH,
    BN_EPSILON,
    TOLERANCE,
    close,
    compare_modes,
    copy_reference,
    expect_tensor,
    fmt_shape,
    lazy_keras,
    limit,
    randomize,
)

# =========================================================================== CIFAR-10 case study
# preactivation_block (ResNet V2's identity block) and grad_cam (class activation maps).
PREACT_CONFIGS = [((5, 5, 6), 3, [2, 4, 6]), ((6, 6, 8), 2, [3, 3, 8])]
PREACT_MAIN = ["bn", "relu", "conv", "bn", "relu", "conv", "bn", "relu", "conv"]
POSTACT_MAIN = ["conv", "bn", "relu", "conv", "bn", "relu", "conv", "bn"]


def _preact_reference(inp, f, filters, initializer=None):
    """The specification with plain Keras layers (the test's own reference)."""
    L = lazy_keras().layers
    F1, F2, F3 = filters
    X = L.Activation("relu")(L.BatchNormalization(axis=3, epsilon=BN_EPSILON)(inp))
    X = L.Conv2D(F1, 1, use_bias=False)(X)
    X = L.Activation("relu")(L.BatchNormalization(axis=3, epsilon=BN_EPSILON)(X))
    X = L.Conv2D(F2, f, padding="same", use_bias=False)(X)
    X = L.Activation("relu")(L.BatchNormalization(axis=3, epsilon=BN_EPSILON)(X))
    X = L.Conv2D(F3, 1)(X)
    return L.Add()([X, inp])


def _check_preact_structure(ex, inp, out, f, filters):
    __tracebackhide__ = True
    where = f"(f={f}, filters={filters})"
    prod = producer(out)
    last = kind(prod[0])
    if last == "relu":
        raise failure(ex, f"the block's last operation {where}", "Add (the block ends with the addition)",
                      "ReLU after the Add",
                      "a pre-activation block has no ReLU after the Add: the next block's own BatchNorm and ReLU "
                      "come first, so the shortcut path stays a pure identity from block to block")
    expect(last == "add" and len(prod[1].input_tensors) == 2, ex, f"the block's last operation {where}",
           "Add of two tensors (main path + shortcut)", KIND_NAMES.get(last, last),
           "end the block with layers.Add()([X, X_shortcut]) and return it")
    a, b = prod[1].input_tensors
    if a is not inp and b is not inp:
        for t in (a, b):
            ops, reached = chain_back(t, inp)
            if reached and [kind(o) for o in ops] == ["bn", "relu"]:
                raise failure(ex, f"the shortcut {where}", "X itself (the block's input)",
                              "X after BatchNormalization -> ReLU",
                              "in the identity block of ResNet V2 the shortcut skips the pre-activation: save "
                              "X_shortcut = X before the first BatchNormalization")
        raise failure(ex, f"the shortcut {where}", "X itself, added unchanged", "no input of the Add is X",
                      "save X_shortcut = X at the start and add it to the main path's output")
    main = b if a is inp else a
    ops, reached = chain_back(main, inp)
    kinds = kinds_with_fused(ops)
    if kinds != PREACT_MAIN:
        hint = "follow the table: every Conv2D is preceded by BatchNormalization -> ReLU; the last Conv2D feeds the Add"
        if [k.split(" ")[0] for k in kinds] == POSTACT_MAIN:
            hint = ("this is the original (post-activation) block of notebook 2: in ResNet V2 BatchNormalization and "
                    "ReLU come *before* each Conv2D, and the block starts with them")
        elif kinds[:1] == ["conv"]:
            hint = "pre-activation: the block starts with BatchNormalization -> ReLU on X, before the first Conv2D"
        elif kinds[-1:] != ["conv"]:
            hint = "the main path ends with the third Conv2D, not with BatchNormalization or ReLU"
        elif any("fused" in k for k in kinds):
            hint = "don't fuse activation='relu' into a Conv2D: the ReLU comes after a BatchNormalization"
        raise failure(ex, f"the main path, from X to the Add {where}", chain_text(PREACT_MAIN), chain_text(kinds),
                      hint)
    convs = [o for o in ops if kind(o) == "conv"]
    bns = [o for o in ops if kind(o) == "bn"]
    got_k = [tuple(c.kernel_size) for c in convs]
    expect(got_k == [(1, 1), (f, f), (1, 1)], ex, f"kernel sizes of the three Conv2D {where}",
           [(1, 1), (f, f), (1, 1)], got_k, "1x1, then f x f, then 1x1")
    got_filters = [c.filters for c in convs]
    expect(got_filters == list(filters), ex, f"filters of the three Conv2D {where}", list(filters), got_filters,
           "F1, F2, F3 = filters, in this order")
    got_strides = [tuple(c.strides) for c in convs]
    expect(got_strides == [(1, 1)] * 3, ex, f"strides {where}", [(1, 1)] * 3, got_strides,
           "an identity block keeps the height and width: stride 1 everywhere")
    expect(convs[1].padding == "same", ex, f"padding of the f x f Conv2D {where}", "'same'", repr(convs[1].padding),
           "padding='same' keeps the height and width, so the Add fits")
    got_bias = [bool(c.use_bias) for c in convs]
    expect(got_bias == [False, False, True], ex, f"use_bias of the three Conv2D {where}", [False, False, True],
           got_bias, "a Conv2D followed by BatchNormalization needs no bias (the BatchNorm's beta replaces it): "
                     "use_bias=False on the first two; the last one feeds the Add and keeps its bias")
    for bn in bns:
        expect(list(np.atleast_1d(bn.axis)) in ([3], [-1]), ex, f"BatchNormalization axis {where}", "3 (channels)",
               bn.axis, "normalise over the channels axis: axis=3")
        expect(abs(bn.epsilon - BN_EPSILON) < 1e-9, ex, f"BatchNormalization epsilon {where}", BN_EPSILON,
               bn.epsilon, "use epsilon=1.001e-5, as keras.applications does")


def _preact_case(ex, target, shape, f, filters, rng, where, reference_fn=None):
    __tracebackhide__ = True
    keras = lazy_keras()
    inp = keras.Input(shape)
    out = call_learner(ex, target, inp, f=f, filters=list(filters), initializer=keras.initializers.GlorotUniform,
                       timeout=limit('block'))
    expect_tensor(ex, out, inp)
    expected_shape = (None, *shape)
    expect(tuple(out.shape) == expected_shape, ex, f"output shape {where}", fmt_shape(expected_shape),
           fmt_shape(out.shape), "an identity block keeps its input's shape: F3 must equal the input's channels")
    with guarded(ex):
        _check_preact_structure(ex, inp, out, f, list(filters))
        model = keras.Model(inp, out)
        ref_in = keras.Input(shape)
        reference = keras.Model(ref_in, (reference_fn or _preact_reference)(ref_in, f, list(filters)))
        randomize(reference, rng)
        copy_reference(ex, reference, model, f"the block's layers against the reference V2 block, one for one, {where}",
                       "compare each Conv2D's kernel size, filters and bias, and each BatchNormalization, with the "
                       "instructions")
        x = rng.normal(0, 1, (BATCH, *shape)).astype("float32")
        compare_modes(ex, model, x, keras.ops.convert_to_numpy(reference(x, training=False)),
                       keras.ops.convert_to_numpy(reference(x, training=True)), where)


def preactivation_block_test(target):
    """Check ``preactivation_block``: the V2 ordering (BN -> ReLU -> conv), the shortcut, and values in both modes."""
    __tracebackhide__ = True
    ex = "preactivation_block"
    expect_untampered(ex)
    with guarded(ex):
        rng = np.random.default_rng(0)
        for shape, f, filters in PREACT_CONFIGS:
            _preact_case(ex, target, shape, f, filters, rng, f"for input {shape}, f={f}, filters={filters}")
    passed(ex, "pre-activation order, identity shortcut, no final ReLU, values in both BatchNorm modes")


def _keras_v2_block(inp, f, filters):
    """Keras's own ResNet50V2 block (identity shortcut, stride 1); only kernel 3 exists there."""
    return residual_block_v2(inp, filters[0], kernel_size=f, stride=1, conv_shortcut=False,
                             name=f"hidden_v2_{lazy_keras().backend.get_uid('hidden_v2')}")


def preactivation_block_hidden_test(target, seed=None):
    """Re-check ``preactivation_block`` on a fresh bottleneck configuration against Keras's ResNet50V2 block."""
    __tracebackhide__ = True
    ex = "preactivation_block"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    F = int(rng.integers(1, 5))
    side = int(rng.integers(3, 9))
    with guarded(ex):
        _preact_case(ex, target, (side, side, 4 * F), 3, [F, F, 4 * F], rng,
                     f"against Keras's own ResNet50V2 block on a fresh configuration (input {(side, side, 4 * F)}, "
                     f"f=3, filters={[F, F, 4 * F]}, seed={seed})", reference_fn=_keras_v2_block)
    passed(ex + " (hidden)", "values against keras.applications' ResNet50V2 block on a fresh configuration")


# --------------------------------------------------------------------------- grad_cam
def _cam_probe(rng, side=8, channels=3, widths=(4, 6), classes=3, name="last_conv"):
    """A small classifier with a named conv layer; BatchNorm with non-trivial moving statistics."""
    keras = lazy_keras()
    L = keras.layers
    inp = keras.Input((side, side, channels))
    X = L.Conv2D(widths[0], 3, padding="same", activation="relu", name="first_conv")(inp)
    X = L.BatchNormalization(name="probe_bn")(X)
    X = L.MaxPooling2D(2)(X)                  # the maps are smaller than the images
    X = L.Conv2D(widths[1], 3, padding="same", name=name)(X)
    X = L.Activation("relu")(X)
    X = L.GlobalAveragePooling2D()(X)
    out = L.Dense(classes, activation="softmax", name="probs")(X)
    model = keras.Model(inp, out, name="cam_probe")
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            new = [rng.normal(0, 0.6, w.shape) for w in ws]
            if isinstance(layer, L.BatchNormalization):
                new = [rng.uniform(0.8, 1.2, ws[0].shape), rng.normal(0, 0.1, ws[1].shape),
                       rng.normal(0, 0.3, ws[2].shape), rng.uniform(0.5, 2.0, ws[3].shape)]
            layer.set_weights([w.astype("float32") for w in new])
    images = rng.uniform(0, 1, (4, side, side, channels)).astype("float32")
    return model, images


def _cam_reference(model, images, layer_name, class_index=None, variant="grad-cam"):
    """Grad-CAM by the specification, and the usual slips (``variant``), for diagnosis."""
    import tensorflow as tf

    keras = lazy_keras()
    grad_model = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])
    x = tf.convert_to_tensor(images, tf.float32)
    training = variant == "training"
    saved = model.get_weights()          # training mode moves BatchNorm's statistics: put them back afterwards
    with tf.GradientTape() as tape:
        features, probs = grad_model(x, training=training)
        m = int(probs.shape[0])
        if class_index is None or variant == "argmax":
            idx = np.argmax(keras.ops.convert_to_numpy(probs), axis=1)
        else:
            idx = np.broadcast_to(np.asarray(class_index), (m,))
        picked = tf.gather(probs, tf.constant(idx, tf.int32), axis=1, batch_dims=1)
        score = -picked if variant == "negated" else picked
    grads = tape.gradient(score, features).numpy()
    features = features.numpy()
    if training:
        model.set_weights(saved)
    if variant == "per_position":
        raw = (grads * features).sum(axis=-1)
    else:
        raw = np.einsum("mhwk,mk->mhw", features, grads.mean(axis=(1, 2)))
    if variant == "no_relu":
        return raw / np.maximum(np.abs(raw).max(axis=(1, 2), keepdims=True), 1e-12)
    cam = np.maximum(raw, 0)
    if variant == "no_norm":
        return cam
    if variant == "batch_max":
        return cam / np.maximum(cam.max(), 1e-12)
    return cam / np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12)


CAM_NOISE = 1e-6  # below this unnormalised peak a heat map is numerical noise, whatever it is divided by

CAM_SLIPS = [
    ("argmax", "your maps are those of each image's predicted class, not of the class asked for",
     "when class_index is given (an int for every image, or one per image), take that class's probability"),
    ("training", "your maps are those of the model in training mode (BatchNorm with batch statistics)",
     "call the model with training=False: Grad-CAM explains the network as it predicts"),
    ("per_position", "your maps weight each position by its own gradient instead of the channel's average gradient",
     "the weight of channel k is the mean of d(score)/d(A_k) over the height and width (global average pooling "
     "of the gradients), one number per channel and image"),
    ("negated", "your maps show the evidence *against* the class (the gradient of minus its probability, or of a "
     "loss)", "differentiate the class's probability itself: tape.gradient(probability, features), not the gradient "
     "of a loss, which points the other way"),
    ("batch_max", "your maps are divided by the largest value of the whole batch, not each by its own maximum",
     "normalise each map separately: heatmaps.max(axis=(1, 2), keepdims=True)"),
]


def _expect_cam(ex, got, expected, model, images, layer_name, class_index, where):
    __tracebackhide__ = True
    keras = lazy_keras()
    if got is None:
        raise failure(ex, f"the function returned None {where}", "an array of heat maps", "None",
                      "end the function with `return heatmaps`")
    kind_of = describe(got)
    if isinstance(got, (tuple, list)):
        raise failure(ex, f"what grad_cam returned {where}", "one array of shape (m, h, w)",
                      f"a {type(got).__name__} of {len(got)} values", "return only the heat maps")
    try:
        got = np.asarray(keras.ops.convert_to_numpy(got), dtype=np.float64)
    except Exception:  # noqa: BLE001
        raise failure(ex, f"what grad_cam returned {where}", "an array of heat maps", describe(got),
                      "return a NumPy array (or tensor) of shape (m, h, w)") from None
    if got.shape != expected.shape:
        hint = "one map per image, at the resolution of the layer's output (h, w): sum over the channels"
        if got.shape == expected.shape + (1,):
            hint = "drop the channel axis: the weighted sum over the channels gives one (h, w) map per image"
        elif got.ndim == 3 and got.shape[0] == expected.shape[0] and got.shape[1:] != expected.shape[1:]:
            hint = ("the maps must have the size of the layer's output (the test's layer gives "
                    f"{expected.shape[1:]}); resizing to the image is done when plotting, not here")
        raise failure(ex, f"shape of the heat maps {where}", f"an array of shape {fmt_shape(expected.shape)}", kind_of,
                      hint)
    if not np.all(np.isfinite(got)):
        raise failure(ex, f"heat maps {where}", "finite values in [0, 1]", "NaN or inf",
                      "divide by the maximum only when it is above 0 (e.g. np.maximum(max, 1e-12))")
    if got.min() < -1e-6:
        raise failure(ex, f"smallest value of the heat maps {where}", ">= 0", f"{got.min():.4f}",
                      "Grad-CAM keeps only the evidence *for* the class: apply ReLU to the weighted sum of the "
                      "feature maps before normalising")
    # A map whose unnormalised peak is positive but below float32's noise (a fresh classifier's gradients can be
    # 1e-11) is ill-conditioned: dividing by max(peak, 1e-12) or by peak + 1e-12 are both right and disagree.
    raw_peaks = _cam_reference(model, images, layer_name, class_index, "no_norm").max(axis=(1, 2))
    degenerate = (raw_peaks > 0) & (raw_peaks < CAM_NOISE)
    got = np.where(degenerate[:, None, None], expected, got)
    if close(got, expected):
        return
    worst = int(np.argmax(np.abs(got - expected).max(axis=(1, 2))))  # show the map that differs most
    for variant, check, hint in CAM_SLIPS:
        if close(got, _cam_reference(model, images, layer_name, class_index, variant)):
            raise failure(ex, f"{check} {where}", f"map {worst}: {short(expected[worst])}",
                          f"map {worst}: {short(got[worst])}", hint)
    peaks = got.max(axis=(1, 2))
    want_peaks = expected.max(axis=(1, 2))
    if not np.allclose(peaks, want_peaks, atol=1e-4):
        hint = "divide each map by its own maximum, so that its largest value is 1 (an all-zero map stays 0)"
        if np.allclose(got, _cam_reference(model, images, layer_name, class_index, "no_norm"), rtol=1e-3, atol=1e-7):
            hint = "the maps are right but not normalised: divide each map by its own maximum"
        raise failure(ex, f"the largest value of each heat map {where}", short(want_peaks), short(peaks), hint)
    raise failure(ex, f"values of the heat maps {where}", short(expected), short(got),
                  f"follow the three steps: gradient of the class probability with respect to the layer's output, "
                  f"channel weights = their mean over height and width, ReLU of the weighted sum, then divide by "
                  f"the maximum (tolerance: {TOLERANCE})")


def _cam_case(ex, target, model, images, layer_name, class_index, where):
    __tracebackhide__ = True
    expected = _cam_reference(model, images, layer_name, class_index)
    before = images.copy()
    got = call_learner(ex, target, model, images, layer_name, class_index=class_index, timeout=limit('block') * 4)
    expect(np.array_equal(before, images), ex, f"the images after the call {where}", "unchanged", "changed in place",
           "don't modify the caller's images; work on a copy or on tensors")
    with guarded(ex):
        _expect_cam(ex, got, expected, model, images, layer_name, class_index, where)


def grad_cam_test(target):
    """Check ``grad_cam`` on a small classifier: the predicted class, one class for all, one class per image."""
    __tracebackhide__ = True
    ex = "grad_cam"
    expect_untampered(ex)
    with guarded(ex):
        model, images = _cam_probe(np.random.default_rng(0))
        for class_index, what in ((None, "class_index=None (the predicted class)"), (1, "class_index=1"),
                                  ([2, 0, 1, 2], "class_index=[2, 0, 1, 2]")):
            _cam_case(ex, target, model, images, "last_conv", class_index, f"on 4 images of 8x8, {what}")
    passed(ex, "heat maps for the predicted class and for given classes, against a reference Grad-CAM")


def grad_cam_hidden_test(target, seed=None):
    """Re-check ``grad_cam`` on a fresh classifier, another layer and fresh classes."""
    __tracebackhide__ = True
    ex = "grad_cam"
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 6))
    with guarded(ex):
        model, images = _cam_probe(rng, side=int(rng.integers(5, 12)), widths=tuple(int(v) for v in rng.integers(2, 7, 2)),
                                   classes=classes, name="target_layer")
        layer = "first_conv" if rng.random() < 0.5 else "target_layer"
        given = [int(v) for v in rng.integers(0, classes, len(images))]
        for class_index in (None, given):
            _cam_case(ex, target, model, images, layer, class_index,
                      f"on a fresh classifier (layer {layer!r}, class_index={class_index}, seed={seed})")
    passed(ex + " (hidden)", "heat maps on a fresh classifier and layer")


EXERCISES = (
    Exercise("preactivation_block", "07_cifar10", 10, preactivation_block_test, preactivation_block_hidden_test),
    Exercise("grad_cam", "07_cifar10", 10, grad_cam_test, grad_cam_hidden_test),
)
