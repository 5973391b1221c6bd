"""The Keras 3 BatchNorm behaviour that the BatchNorm notebook (05) teaches, asserted on the installed Keras.

If a Keras upgrade changes any of it, this file fails before the notebook's prose becomes wrong.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

X = np.random.default_rng(1).normal(3.0, 2.0, size=(16, 4)).astype("float32")
Y = np.zeros((16, 1), dtype="float32")


def bn_model(training_at_build=None):
    inputs = keras.Input((4,))
    bn = layers.BatchNormalization()
    outputs = bn(inputs) if training_at_build is None else bn(inputs, training=training_at_build)
    return keras.Model(inputs, outputs), bn


def used_batch_statistics(model, **kwargs) -> bool:
    """X has mean 3 per channel; only its own statistics bring it to mean 0 (the moving ones start at 0 and 1)."""
    return abs(float(np.mean(keras.ops.convert_to_numpy(model(X, **kwargs))))) < 0.1


class ModeProbe(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs, training=None):
        self.seen.append(training)
        return inputs


def test_training_recorded_while_building_is_the_default_of_a_bare_call():
    assert used_batch_statistics(bn_model(True)[0])
    assert not used_batch_statistics(bn_model(None)[0])
    assert not used_batch_statistics(bn_model(False)[0])


@pytest.mark.parametrize("recorded", [None, True, False])
def test_an_explicit_training_argument_overrides_what_was_recorded(recorded):
    model, _ = bn_model(recorded)
    assert used_batch_statistics(model, training=True)
    assert not used_batch_statistics(model, training=False)


def test_fit_passes_training_true_predict_and_evaluate_pass_false():
    probe, bn = ModeProbe(), layers.BatchNormalization()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(1)(bn(probe(inputs))))
    model.compile(optimizer="sgd", loss="mse")
    seen = {}
    for name, run in (
        ("fit", lambda: model.fit(X, Y, epochs=1, batch_size=8, verbose=0)),
        ("train_on_batch", lambda: model.train_on_batch(X, Y)),
        ("predict", lambda: model.predict(X, verbose=0)),
        ("evaluate", lambda: model.evaluate(X, Y, verbose=0)),
        ("predict_on_batch", lambda: model.predict_on_batch(X)),
    ):
        probe.seen.clear()
        before = bn.moving_mean.numpy().copy()
        run()
        seen[name] = (set(probe.seen), not np.allclose(before, bn.moving_mean.numpy()))
    assert seen == {
        "fit": ({True}, True),
        "train_on_batch": ({True}, True),
        "predict": ({False}, False),
        "evaluate": ({False}, False),
        "predict_on_batch": ({False}, False),
    }


@pytest.mark.parametrize("recorded", [None, True])
def test_a_frozen_batchnorm_layer_always_runs_in_inference_mode(recorded):
    model, bn = bn_model(recorded)
    bn.trainable = False
    assert not used_batch_statistics(model)
    assert not used_batch_statistics(model, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(4))


def test_a_frozen_batchnorm_layer_is_left_alone_by_fit_and_the_others_train():
    inputs = keras.Input((4,))
    bn, dense = layers.BatchNormalization(), layers.Dense(1)
    model = keras.Model(inputs, dense(bn(inputs)))
    bn.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before_bn = [w.copy() for w in bn.get_weights()]
    before_dense = dense.kernel.numpy().copy()
    model.fit(X, Y + 1.0, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(before_bn, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(before_dense, dense.kernel.numpy())


def test_changing_trainable_after_fit_needs_a_new_compile():
    inputs = keras.Input((4,))
    bn = layers.BatchNormalization()
    model = keras.Model(inputs, layers.Dense(1)(bn(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    bn.trainable = False
    before = bn.moving_mean.numpy().copy()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(before, bn.moving_mean.numpy()), "the old training step still updates the layer"
    model.compile(optimizer="sgd", loss="mse")
    before = bn.moving_mean.numpy().copy()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(before, bn.moving_mean.numpy())


def test_trainable_false_on_a_nested_model_freezes_its_layers_but_model_layers_lists_only_the_top_level():
    inner, bn = bn_model()
    inputs = keras.Input((4,))
    outer = keras.Model(inputs, layers.Dense(2)(inner(inputs)))
    assert bn not in outer.layers and inner in outer.layers
    inner.trainable = False
    assert bn.trainable is False
    assert not used_batch_statistics(inner, training=True)


def test_batch_statistics_make_a_prediction_depend_on_the_other_images_of_the_batch():
    model, _ = bn_model()
    image = X[:1]
    outputs = {
        mode: [
            keras.ops.convert_to_numpy(model(np.concatenate([image, X[s : s + 3]]), training=mode))[0]
            for s in (1, 5, 9)
        ]
        for mode in (True, False)
    }
    assert not np.allclose(outputs[True][0], outputs[True][1])
    np.testing.assert_allclose(outputs[False][0], outputs[False][1])
    np.testing.assert_allclose(outputs[False][0], outputs[False][2])


def test_keras_batchnorm_uses_the_biased_variance_and_momentum_on_the_old_value():
    bn = layers.BatchNormalization(momentum=0.9, epsilon=0.5, dtype="float64")
    x = X.astype("float64")
    out = keras.ops.convert_to_numpy(bn(x, training=True))
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 0.5), atol=1e-10)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, atol=1e-10)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, atol=1e-10)


# ---- Facts the other notebooks state (transfer learning, the architecture), pinned on the installed Keras.


def _transfer_toy(seed=0):
    """A base (Dense -> BatchNorm) nested in an outer model with base(inputs, training=False), as notebook 6 builds it."""
    keras.utils.set_random_seed(seed)
    base_in = keras.Input((4,))
    bn = layers.BatchNormalization()
    base = keras.Model(base_in, bn(layers.Dense(4)(base_in)), name="base")
    base.trainable = False
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(1)(base(inputs, training=False)))
    model.compile(optimizer="sgd", loss="mse")
    return model, base, bn


@pytest.mark.parametrize("freeze_batchnorm", [False, True])
def test_training_false_on_a_nested_base_does_not_protect_batchnorm_once_the_base_is_unfrozen(freeze_batchnorm):
    """Notebook 6: `base(inputs, training=False)` is no safety belt; fit's training=True reaches the nested layers
    (keras-team/keras#20285). Only trainable=False on the BatchNorm layers keeps their statistics."""
    model, base, bn = _transfer_toy()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)  # phase 1: the whole base is frozen
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(4))
    base.trainable = True  # phase 2: unfreeze the base...
    if freeze_batchnorm:
        bn.trainable = False  # ...but keep BatchNorm frozen
    model.compile(optimizer="sgd", loss="mse")
    before = bn.moving_mean.numpy().copy()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    moved = not np.allclose(before, bn.moving_mean.numpy())
    assert moved is not freeze_batchnorm
    # A bare call still uses the recorded training=False, so the two modes differ only through an explicit value.
    same = np.allclose(model(X), model(X, training=False))
    assert same
    assert np.allclose(model(X, training=True), model(X, training=False)) is freeze_batchnorm


def _bottleneck(stride_on_3x3: bool, s: int = 2):
    inputs = keras.Input((8, 8, 4))
    x = layers.Conv2D(2, 1, strides=1 if stride_on_3x3 else s)(inputs)
    x = layers.Conv2D(2, 3, strides=s if stride_on_3x3 else 1, padding="same")(x)
    x = layers.Conv2D(6, 1)(x)
    return keras.Model(inputs, x)


def test_v1_and_v1_5_blocks_have_the_same_weight_shapes_but_compute_different_functions():
    """Notebook 3: moving the stride from the first 1x1 to the 3x3 conv changes no kernel shape, only the function."""
    keras.utils.set_random_seed(0)
    v1, v15 = _bottleneck(False), _bottleneck(True)
    assert [w.shape for w in v1.get_weights()] == [w.shape for w in v15.get_weights()]
    v15.set_weights(v1.get_weights())  # loads without any error...
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    assert v1(x).shape == v15(x).shape == (2, 4, 4, 6)
    assert not np.allclose(v1(x), v15(x), atol=1e-3)  # ...and computes something else


def test_keras_resnet50_details_that_the_paper_does_not_fix():
    """Notebooks 1, 3 and 4: keras.applications.ResNet50 starts every gamma at 1 (no zero-gamma), keeps a bias on
    every convolution, and puts a stage's stride on the first 1x1 convolution and the shortcut."""
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3)
    bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert len(bns) == 53 and all(np.all(bn.gamma.numpy() == 1.0) for bn in bns)
    assert len(convs) == 53 and all(conv.use_bias for conv in convs)
    strides = {conv.name: tuple(conv.strides) for conv in convs if conv.name.startswith("conv3_block1")}
    assert strides == {
        "conv3_block1_0_conv": (2, 2),
        "conv3_block1_1_conv": (2, 2),
        "conv3_block1_2_conv": (1, 1),
        "conv3_block1_3_conv": (1, 1),
    }


def test_a_conv_bias_before_batchnorm_gets_no_gradient_in_training_mode():
    """Notebook 2: BatchNorm subtracts the batch mean, bias included, so the bias cannot change the output."""
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    conv, bn = layers.Conv2D(3, 3, padding="same"), layers.BatchNormalization()
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 5, 5, 2)).astype("float32"))
    target = tf.constant(np.random.default_rng(1).normal(size=(4, 5, 5, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum((bn(conv(x), training=True) - target) ** 2)
    grad_kernel, grad_bias = tape.gradient(loss, [conv.kernel, conv.bias])
    assert np.abs(grad_bias.numpy()).max() < 1e-4 * np.abs(grad_kernel.numpy()).max()
