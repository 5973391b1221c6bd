"""Blocks and weights: Keras's own bottleneck blocks, weights copied by graph position, multiply-adds, BatchNorm statistics refreshed."""

from __future__ import annotations

import numpy as np

from .keras_internals import graph_depth, residual_block_v1, walk_nodes


def keras_blocks():
    """Return ``(identity_block, convolutional_block)`` built on Keras's own ResNet code.

    The ResNet-50 notebook uses these so that a slip in the two block exercises
    does not cost a learner twice; the learner's own blocks are drop-in
    replacements. They wrap ``residual_block_v1`` of ``keras.applications``
    (stride on the first 1x1 conv, BatchNormalization epsilon 1.001e-5), which
    supports the bottleneck shape ``filters == [F, F, 4F]`` that ResNet-50 uses.
    ``initializer`` is accepted for signature compatibility; Keras's block uses
    its default Glorot-uniform initializer.
    """
    import keras

    def _check(filters):
        F1, F2, F3 = filters
        if F2 != F1 or F3 != 4 * F1:
            raise ValueError(f"Keras's bottleneck block needs filters [F, F, 4F], got {list(filters)}")
        return F1

    def identity_block(X, f, filters, initializer=None):
        return residual_block_v1(
            X,
            _check(filters),
            kernel_size=f,
            stride=1,
            conv_shortcut=False,
            name=f"id_block{keras.backend.get_uid('course_identity_block')}",
        )

    def convolutional_block(X, f, filters, s=2, initializer=None):
        return residual_block_v1(
            X,
            _check(filters),
            kernel_size=f,
            stride=s,
            conv_shortcut=True,
            name=f"conv_block{keras.backend.get_uid('course_conv_block')}",
        )

    return identity_block, convolutional_block


def weighted_layers_in_graph_order(model):
    """List the layers of a functional model that hold weights, in a canonical graph order.

    The order is a depth-first walk from the output towards the input. Where a
    merge (e.g. the residual ``Add``) has several inputs, the branch whose
    longest path back to the model input is longer (the main path) is walked
    first; ties keep the merge's input order. The result depends only on the
    graph's shape, not on layer names nor on which branch was created first.
    """
    depth_cache: dict[int, int] = {}
    order = []
    for op, _ in walk_nodes(model.outputs, branch_key=lambda t: graph_depth(t, depth_cache)):
        if getattr(op, "weights", None) and op not in order:  # a shared layer counts once
            order.append(op)
    return order


def count_flops(model):
    """Multiply-adds of one forward pass of one example through ``model``'s Conv2D and Dense layers.

    A Conv2D layer computes, for each of its output values (height x width x filters), a dot
    product of length kernel height x kernel width x input channels (divided by ``groups``);
    a Dense layer one of length ``input units`` per output unit (and per position when its
    input has more than one axis). Biases, BatchNorm, activations, pooling and additions are
    left out: they cost a few operations per value, next to hundreds per convolution output.
    This is the convention of He et al. (2015), whose "FLOPs" are multiply-adds. Nested
    models are counted layer by layer; a layer must have been called once (its ``output``).
    """
    import keras

    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            total += count_flops(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            in_channels = layer.input.shape[-1]
            out = layer.output.shape  # (batch, height, width, filters)
            total += out[1] * out[2] * out[3] * kh * kw * in_channels // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.output.shape[1:-1], dtype=np.int64))
            total += positions * layer.input.shape[-1] * layer.units
    return int(total)


def copy_weights(source, target):
    """Copy all weights of ``source`` into ``target``, matching layers by their place in the graph.

    Both models must have the same architecture (for instance the learner's
    ``ResNet50`` and ``keras.applications.ResNet50`` with the same input shape
    and classes); names and the order in which layers were created do not matter.

    Returns:
        The number of layers copied.

    Raises:
        ValueError: the two graphs differ; the message names the first layer
            (by its position) whose type or weight shapes differ.
    """
    src = weighted_layers_in_graph_order(source)
    dst = weighted_layers_in_graph_order(target)
    for i, (a, b) in enumerate(zip(src, dst)):
        shapes_a = [tuple(w.shape) for w in a.weights]
        shapes_b = [tuple(w.shape) for w in b.weights]
        if type(a) is not type(b) or shapes_a != shapes_b:
            raise ValueError(
                f"weighted layer #{i + 1} differs: source {type(a).__name__} '{a.name}' with weights {shapes_a}, "
                f"target {type(b).__name__} '{b.name}' with weights {shapes_b}"
            )
    if len(src) != len(dst):
        raise ValueError(f"source has {len(src)} layers with weights, target has {len(dst)}")
    for a, b in zip(src, dst):
        b.set_weights(a.get_weights())
    return len(src)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def refresh_batchnorm_statistics(model, x, batch_size=32, seed=0):
    """Re-estimate the moving mean and variance of every BatchNormalization layer.

    BatchNorm uses moving averages of each channel's batch mean and variance at
    inference (momentum 0.99: roughly the last 100 batches). After a short run,
    those averages still remember the weights of several epochs ago, and
    accuracy in inference mode can fall far below training accuracy. This runs
    ``x`` through the model in training mode, without changing any weight, and
    sets each layer's moving statistics to the plain average of the batch
    statistics under the final weights (the "precise BN" of Wu & Johnson, 2021).

    Args:
        model: a Keras model; nested models are included. Layers with
            ``trainable=False`` are skipped (they always run in inference mode).
        x: training images, shape ``(m, height, width, channels)``.
        batch_size: batch size used for the statistics (use the training batch size).
        seed: order in which the images are visited.

    Returns:
        The number of BatchNormalization layers refreshed.
    """
    import keras

    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise TypeError(f"x must be the training images, an array of shape (m, height, width, channels); got {x!r:.60}")
    shape = np.shape(x)
    if len(shape) != len(model.input_shape) or np.asarray(x[:1]).dtype.kind not in "uif":
        raise ValueError(f"x must be images shaped like the model's input {model.input_shape}, got shape {shape}")
    if len(x) < batch_size:
        raise ValueError(
            f"x holds {len(x)} images, fewer than one batch of {batch_size}: nothing would be refreshed; "
            "pass the training images (or a smaller batch_size)"
        )
    layers = [
        layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    saved = [layer.momentum for layer in layers]
    order = np.random.default_rng(seed).permutation(len(x))
    try:
        for i, start in enumerate(range(0, len(x) - batch_size + 1, batch_size)):
            for layer in layers:
                layer.momentum = i / (i + 1)  # running mean of the batch statistics
            model(np.asarray(x[order[start : start + batch_size]], dtype="float32"), training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
    return len(layers)
