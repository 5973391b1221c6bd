"""The bottleneck blocks' checks, shared by notebooks 2 and 3 (identity and convolutional block): structure, modes, hidden comparison with Keras's own block."""

from __future__ import annotations

import numpy as np

from ..exercise import fixture_key
from ..expected import deterministic_initializer, load_fixtures
from ..graph import KIND_NAMES, chain_back, chain_text, kind, kinds_with_fused
from ..guard import expect_untampered
from ..harness import call_learner, expect, failure, passed
from ..keras_internals import producer, residual_block_v1, walk_nodes
from .common import (
    BATCH,
    BN_EPSILON,
    compare_modes,
    copy_reference,
    expect_tensor,
    fmt_shape,
    lazy_keras,
    limit,
    randomize,
)

MAIN_PATH = ["conv", "bn", "relu", "conv", "bn", "relu", "conv", "bn"]


# --------------------------------------------------------------------------- block structure
def _branches(ex, add_node, block_input):
    """Chains of the two Add inputs back to the block input, shorter one (the shortcut) first."""
    __tracebackhide__ = True
    inputs = list(add_node.input_tensors)
    expect(len(inputs) == 2, ex, "the Add should join exactly two tensors (main path and shortcut)",
           2, len(inputs), "add the two paths once: layers.Add()([X, X_shortcut])")
    chains = []
    for t in inputs:
        ops, reached = chain_back(t, block_input)
        if not reached:
            raise failure(ex, "each input of the Add must lead back to the block's input X through one chain of layers",
                          "main path: X -> ... -> BatchNorm; shortcut: X_shortcut", f"an input made by {chain_text(kinds_with_fused(ops)[-1:])} "
                          "that does not come from X", "keep X_shortcut = X at the start and use each layer's output as "
                          "the next layer's input")
        chains.append(ops)
    chains.sort(key=len)
    if set(map(id, chains[0])) & set(map(id, chains[1])):
        raise failure(ex, "the shortcut and the main path share a layer", "separate layers", "a shared layer object",
                      "create a new layer for each step")
    return chains[0], chains[1]


def block_branches(ex, inp, out):
    """Check that a residual block ends in ReLU(Add(main path, shortcut)) with one Add; return the two
    branches as layer lists (shortcut, main path), each from the block input X to the Add."""
    __tracebackhide__ = True
    last_op, last_node = producer(out)
    last = kind(last_op)
    if last == "add":
        relu_first = any((p := producer(t)) is not None and kind(p[0]) == "relu" for t in last_node.input_tensors)
        hint = ("move the ReLU after the Add: the main path's last BatchNorm feeds the Add directly"
                if relu_first else "apply X = Activation('relu')(X) after adding the shortcut")
        raise failure(ex, "the block must end with a ReLU applied after the Add", "... -> Add -> ReLU",
                      "... -> ReLU -> Add" if relu_first else "... -> Add (no ReLU after it)", hint)
    expect(last == "relu", ex, "the block must end with a ReLU applied after the Add", "ReLU", last,
           "the last two steps are: add the shortcut, then ReLU")
    add_prod = producer(last_node.input_tensors[0])
    add_kind = kind(add_prod[0]) if add_prod else "the block input"
    if add_kind != "add":
        below = producer(add_prod[1].input_tensors[0]) if add_prod and add_prod[1].input_tensors else None
        between = KIND_NAMES.get(add_kind, add_kind)
        if below is not None and kind(below[0]) == "add":  # a layer sits between the Add and the ReLU
            hint = (f"the {between} belongs on the main path, before the Add: Conv2D -> BatchNormalization, then "
                    "Add the shortcut, then ReLU (a BatchNormalization after the Add would normalise the shortcut too)")
            got = f"ReLU({between}(Add(...)))"
        else:
            hint, got = "add the shortcut to the main path first, then apply the ReLU", f"ReLU({between})"
        raise failure(ex, "the final ReLU must be applied to the output of the Add", "ReLU(Add(...))", got, hint)
    adds = [op for op, _ in walk_nodes([out]) if kind(op) == "add"]
    expect(len(adds) == 1, ex, "a block has exactly one Add", 1, len(adds),
           "add the shortcut once, at the end of the block, just before the final ReLU")
    return _branches(ex, add_prod[1], inp)


def _check_block_structure(ex, inp, out, f, filters, s, identity):
    """Check the layer graph of one block (final ReLU, Add, shortcut, main path, conv settings, BatchNorm)."""
    __tracebackhide__ = True
    F1, F2, F3 = filters
    shortcut, main = block_branches(ex, inp, out)
    short_kinds, main_kinds = kinds_with_fused(shortcut), kinds_with_fused(main)

    if identity:
        expect(not shortcut, ex, "the shortcut of an identity block is X itself", "X_shortcut = X (no layers)",
               chain_text(short_kinds), "save X_shortcut = X before the main path and add it unchanged")
    else:
        if not shortcut:
            raise failure(ex, "the shortcut of a convolutional block needs its own Conv2D and BatchNormalization",
                          "X -> Conv2D(F3, 1x1, strides=s) -> BatchNormalization", "X unchanged",
                          "the projection shortcut matches the main path's shape: 1x1 conv with stride s, then BatchNorm")
        if short_kinds == ["conv"]:
            raise failure(ex, "the shortcut needs its own BatchNormalization after its 1x1 conv",
                          chain_text(["conv", "bn"]), chain_text(short_kinds),
                          "add X_shortcut = BatchNormalization(...)(X_shortcut)")
        expect(short_kinds == ["conv", "bn"], ex, "the shortcut is a 1x1 Conv2D followed by BatchNormalization",
               chain_text(["conv", "bn"]), chain_text(short_kinds), "X_shortcut = Conv2D(F3, 1, strides=s) then BatchNormalization")

    if main_kinds != MAIN_PATH:
        hint = "three steps, each Conv2D -> BatchNormalization (-> ReLU, except after the third)"
        if main_kinds == MAIN_PATH + ["relu"]:
            hint = "the ReLU comes after the Add: feed the third BatchNorm's output straight into the Add"
        elif any("fused" in k for k in main_kinds):
            hint = "Conv2D(activation='relu') applies ReLU before BatchNorm; use a separate ReLU after BatchNorm"
        elif sorted(main_kinds) == sorted(MAIN_PATH) and main_kinds.index("relu") < main_kinds.index("bn"):
            hint = "BatchNormalization comes before ReLU: Conv2D -> BatchNormalization -> ReLU"
        elif main_kinds.count("conv") != 3:
            hint = f"the main path has three Conv2D layers (1x1, {f}x{f}, 1x1); yours has {main_kinds.count('conv')}"
        raise failure(ex, "layers of the main path, in order", chain_text(MAIN_PATH), chain_text(main_kinds), hint)

    convs = [op for op in main if kind(op) == "conv"]
    bns = [op for op in main + shortcut if kind(op) == "bn"]
    got_k = [tuple(c.kernel_size) for c in convs]
    expect(got_k == [(1, 1), (f, f), (1, 1)], ex, "kernel sizes of the three main-path convolutions",
           [(1, 1), (f, f), (1, 1)], got_k, f"first and last are 1x1, the middle one is f x f = {f}x{f}")
    got_f = [c.filters for c in convs]
    if got_f != [F1, F2, F3]:
        hint = "use filters[0], filters[1], filters[2] in that order (F1, F2, F3)"
        if sorted(got_f) == sorted([F1, F2, F3]):
            hint = "the numbers are right but in the wrong order: conv 1 has F1, conv 2 has F2, conv 3 has F3"
        raise failure(ex, "numbers of filters of the three main-path convolutions", [F1, F2, F3], got_f, hint)
    got_s = [tuple(c.strides) for c in convs]
    want_s = [(s, s), (1, 1), (1, 1)]
    if got_s != want_s:
        hint = f"put strides=(s, s) on the first 1x1 conv only (s={s} here)"
        if got_s == [(1, 1), (s, s), (1, 1)] and s != 1:
            hint = ("this course follows keras.applications.ResNet50 (and the authors' released models): the stride "
                    "sits on the first 1x1 conv (ResNet 'v1.5' moves it to the 3x3 conv: same weight shapes, a "
                    "different network)")
        elif all(st == (1, 1) for st in got_s):
            hint = "the stride s is ignored: pass strides=(s, s) to the first Conv2D"
        raise failure(ex, "strides of the three main-path convolutions", want_s, got_s, hint)
    expect(convs[1].padding == "same", ex, f"padding of the middle {f}x{f} convolution", "'same'",
           repr(convs[1].padding), "padding='same' keeps the height and width so the Add's inputs match")
    if not identity:
        sc = shortcut[0]
        expect((tuple(sc.kernel_size), sc.filters, tuple(sc.strides)) == ((1, 1), F3, (s, s)), ex,
               "the shortcut's Conv2D (kernel, filters, strides)", ((1, 1), F3, (s, s)),
               (tuple(sc.kernel_size), sc.filters, tuple(sc.strides)),
               "the shortcut must produce the main path's shape: F3 filters, 1x1 kernel, stride s")
    check_conv_bias_and_bn(ex, convs + [op for op in shortcut if kind(op) == "conv"], bns)


def check_conv_bias_and_bn(ex, convs, bns):
    """Every Conv2D keeps its bias; every BatchNormalization has keras.applications.ResNet50's arguments."""
    __tracebackhide__ = True
    no_bias = [c for c in convs if not c.use_bias]
    expect(not no_bias, ex, "every Conv2D keeps its bias (the Keras default)", "use_bias=True",
           "use_bias=False", "keras.applications.ResNet50 keeps the biases; leave use_bias at its default")
    axes = [b.axis if isinstance(b.axis, int) else tuple(b.axis) for b in bns]
    expect(all(a in (3, -1) for a in axes), ex, "BatchNormalization normalises the channels axis",
           "axis=3 (or -1)", axes, "use BatchNormalization(axis=3, ...)")
    eps = [float(b.epsilon) for b in bns]
    expect(all(abs(e - BN_EPSILON) < 1e-9 for e in eps), ex, "BatchNormalization epsilon",
           BN_EPSILON, sorted(set(eps)), "use BatchNormalization(axis=3, epsilon=1.001e-5), the value of keras.applications.ResNet50")
    # Arguments one call cannot show: momentum changes only the moving averages, center/scale only what trains.
    others = sorted({(round(float(b.momentum), 6), bool(b.center), bool(b.scale)) for b in bns})
    expect(others == [(0.99, True, True)], ex, "BatchNormalization momentum, center and scale",
           "momentum=0.99, center=True, scale=True (the defaults)",
           ", ".join(f"momentum={m}, center={c}, scale={sc}" for m, c, sc in others),
           "pass only axis=3 and epsilon=1.001e-5 and leave the other arguments at their defaults, as "
           "keras.applications.ResNet50 does: momentum sets how fast the moving averages follow the batches, "
           "which a single forward pass never shows")


def _block_kwargs(identity, f, filters, s, initializer):
    kwargs = {"f": f, "filters": list(filters), "initializer": initializer}
    if not identity:
        kwargs["s"] = s
    return kwargs


def _expected_block_shape(shape, filters, s):
    h, w, _ = shape
    return (None, -(-h // s), -(-w // s), filters[2])


def check_initializers(ex, out, init, config):
    """Every Conv2D of the block draws its kernel from the ``initializer`` it was given (by class name: in the
    grader the class crosses the sandbox's boundary as a copy). Otherwise its values differ from the fixtures'
    for a reason the value comparison would not name."""
    __tracebackhide__ = True
    convs = [op for op, _ in walk_nodes([out]) if kind(op) == "conv"]
    other = [f"'{c.name}' ({type(c.kernel_initializer).__name__})" for c in convs
             if type(c.kernel_initializer).__name__ != init.__name__]  # fmt: skip
    if other:
        raise failure(ex, f"the Conv2D layers' kernels come from the `initializer` argument, for {config}",
                      f"{init.__name__} (the initializer the test passed) in all {len(convs)} Conv2D layers",
                      f"{len(other)} with another: " + ", ".join(other[:3]),
                      "pass kernel_initializer=initializer(seed=0) to every Conv2D of the block, the shortcut's "
                      "included: the test compares values computed with the initializer it passes")  # fmt: skip


def block_test(ex, target, identity, configs):
    __tracebackhide__ = True
    expect_untampered(ex)
    keras = lazy_keras()
    fixtures = load_fixtures(exercise=ex)
    init = deterministic_initializer()
    for i, cfg in enumerate(configs):
        shape, f, filters = cfg[:3]
        s = 1 if identity else cfg[3]
        inp = keras.Input(shape)
        out = call_learner(ex, target, inp, **_block_kwargs(identity, f, filters, s, init), timeout=limit('block'))
        expect_tensor(ex, out, inp)
        want = _expected_block_shape(shape, filters, s)
        _check_block_structure(ex, inp, out, f, filters, s, identity)
        config = f"X of shape {fmt_shape((None,) + shape)}, f={f}, filters={filters}" + ("" if identity else f", s={s}")
        expect(tuple(out.shape) == want, ex, f"output shape for {config}", want, tuple(out.shape),
               "height and width shrink by s (ceil(n / s)) and the block outputs F3 channels")
        check_initializers(ex, out, init, config)
        model = keras.Model(inp, out)
        key = fixture_key(ex, i)
        compare_modes(ex, model, fixtures[fixture_key(key, "x")], fixtures[fixture_key(key, "inference")],
                       fixtures[fixture_key(key, "training")], f"for {config}")
    passed(ex, f"layers, shapes and values in both BatchNorm modes for {len(configs)} configurations")


# --------------------------------------------------------------------------- hidden block tests
def _keras_reference_block(inp, f, F, s, identity):
    return residual_block_v1(inp, F, kernel_size=f, stride=s, conv_shortcut=not identity, name="reference")


def hidden_block_test(ex, target, identity, seed):
    __tracebackhide__ = True
    keras = lazy_keras()
    rng = np.random.default_rng(seed)
    F = int(rng.integers(1, 5))
    f = int(rng.integers(1, 4))
    s = 1 if identity else int(rng.integers(1, 4))
    side = int(rng.integers(4, 10))
    channels = 4 * F if identity else int(rng.integers(2, 7))
    inp = keras.Input((side, side, channels))
    out = call_learner(ex, target, inp, **_block_kwargs(identity, f, [F, F, 4 * F], s, keras.initializers.GlorotUniform),
                       timeout=limit('block'))
    expect_tensor(ex, out, inp)
    model = keras.Model(inp, out)
    ref_in = keras.Input((side, side, channels))
    reference = keras.Model(ref_in, _keras_reference_block(ref_in, f, F, s, identity))
    randomize(reference, rng)
    copy_reference(ex, reference, model, f"the block's layers against Keras's own block, one for one, on a fresh "
                                         f"configuration (f={f}, filters={[F, F, 4 * F]}, s={s})",
                   "the visible test's configurations passed, so look for a detail that depends on f, the filters "
                   "or s instead of using the arguments")
    x = rng.normal(0, 1, (BATCH, side, side, channels)).astype("float32")
    expected_inf = keras.ops.convert_to_numpy(reference(x, training=False))
    expected_train = keras.ops.convert_to_numpy(reference(x, training=True))
    compare_modes(ex, model, x, expected_inf, expected_train,
                   f"on a fresh configuration (f={f}, filters={[F, F, 4 * F]}, s={s}, seed={seed})")
    passed(ex + " (hidden)", "values against Keras's own block on a fresh configuration")


def make_block_fixtures(solution, exercise) -> dict:
    """Inputs and outputs (both BatchNorm modes) of the reference block on each fixed configuration."""
    keras = lazy_keras()
    init = deterministic_initializer()
    out = {}
    for i, cfg in enumerate(exercise.fixtures.configs):
        shape, f, filters = cfg[:3]
        kwargs = {"f": f, "filters": filters, "initializer": init}
        if len(cfg) > 3:
            kwargs["s"] = cfg[3]
        inp = keras.Input(shape)
        model = keras.Model(inp, solution(inp, **kwargs))
        x = np.random.default_rng(exercise.seed(i)).normal(0, 1, (BATCH,) + shape).astype("float32")
        out[exercise.key(i, "x")] = x
        out[exercise.key(i, "inference")] = keras.ops.convert_to_numpy(model(x, training=False))
        out[exercise.key(i, "training")] = keras.ops.convert_to_numpy(model(x, training=True))
    return out
