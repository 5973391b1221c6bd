"""Mutants and variants of notebooks 6 and 7 (transfer learning, the CIFAR-10 case study); ``mutants`` appends
them, in this order, to its ``MUTANTS`` and ``VARIANTS``."""

from __future__ import annotations

from .entry import _m, _v

MUTANTS: list = []
VARIANTS: list = []

# ---- transfer learning (appended; keep new entries at the end of MUTANTS and VARIANTS)
LOAD_COPY = "    copy_weights(reference, body)\n"
TRANSFER_FREEZE = "    base.trainable = False                                   # phase 1: the whole base is frozen\n"
TRANSFER_BODY = "    X = base(inputs, training=False)\n    X = layers.GlobalAveragePooling2D()(X)\n"
FINE_FLAG = "        layer.trainable = in_last_stages         # BatchNormalization layers stay frozen\n"
FINE_COMPILE = ("    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=\"categorical_crossentropy\",\n"
                "                  metrics=[\"accuracy\"])\n")
MUTANTS += [
    _m("load_pretrained", "no_copy", "the weights are never copied", "features your model feeds",
       (LOAD_COPY, "")),
    _m("load_pretrained", "head_included", "copies into the whole model, classifier included", "raised ValueError",
       (LOAD_COPY, "    copy_weights(reference, model)\n")),
    _m("load_pretrained", "returns_reference", "returns the reference instead of the learner's model", "a new model",
       ("    return model", "    return reference")),
    _m("load_pretrained", "old_classes", "keeps the source task's 6 classes", "output shape",
       ("classes=classes)\n    gap", "classes=6)\n    gap")),
    _m("build_transfer_model", "everything_unfrozen_phase1", "the base left trainable in phase 1", "phase 1",
       (TRANSFER_FREEZE, "")),
    _m("build_transfer_model", "bn_left_trainable", "only the base's convolutions frozen, BatchNorm left trainable",
       "every BatchNormalization layer of the base is frozen",
       (TRANSFER_FREEZE, "    for layer in base.layers:\n        if not isinstance(layer, layers.BatchNormalization):\n"
                         "            layer.trainable = False\n")),
    _m("build_transfer_model", "head_reused", "new layers stacked on the pretrained model's old classifier",
       "the head must be new",
       (TRANSFER_BODY, "    X = pretrained(inputs, training=False)\n")),
    _m("build_transfer_model", "no_l2", "the L2 factor ignored", "L2 regularisation",
       ("kernel_regularizer=regularizer", "kernel_regularizer=None")),
    _m("build_transfer_model", "fixed_dropout", "Dropout rate hard-coded", "Dropout of the head",
       ("layers.Dropout(dropout)", "layers.Dropout(0.5)")),
    _m("build_transfer_model", "no_layernorm", "the pooled features fed to the hidden Dense as they are",
       "LayerNormalization", ("    X = layers.LayerNormalization()(X)", "    pass")),
    _m("build_transfer_model", "batchnorm_head", "BatchNormalization where the head needs LayerNormalization",
       "LayerNormalization", ("    X = layers.LayerNormalization()(X)", "    X = layers.BatchNormalization()(X)")),
    _m("build_transfer_model", "flatten_head", "Flatten instead of global average pooling", "GlobalAveragePooling2D",
       ("    X = layers.GlobalAveragePooling2D()(X)\n", "    X = layers.Flatten()(X)\n")),
    _m("build_transfer_model", "dropout_before_hidden", "Dropout on the pooled features, before the hidden Dense",
       "the Dropout's place in the head",
       ("    X = layers.Dropout(dropout)(X)\n", ""),
       ("    regularizer = keras.regularizers.L2(l2) if l2 else None\n",
        "    X = layers.Dropout(dropout)(X)\n    regularizer = keras.regularizers.L2(l2) if l2 else None\n")),
    _m("build_transfer_model", "linear_hidden", "the hidden Dense without its ReLU", "dense layers of the head",
       ('    X = layers.Dense(units, activation="relu", kernel_regularizer=regularizer)(X)',
        '    X = layers.Dense(units, kernel_regularizer=regularizer)(X)')),
    _m("start_fine_tuning", "bn_left_trainable", "the last stage unfrozen BatchNorm included",
       "every BatchNormalization layer stays frozen",
       ("isinstance(layer, layers.Conv2D) and layer.output", "bool(layer.weights) and layer.output")),
    _m("start_fine_tuning", "everything_unfrozen", "the whole base unfrozen", "trainable flags of the base's Conv2D",
       (FINE_FLAG, "")),
    _m("start_fine_tuning", "same_lr", "phase 2 keeps phase 1's learning rate", "optimizer learning rate for phase 2",
       ("optimizer=keras.optimizers.Adam(learning_rate)", "optimizer=keras.optimizers.Adam(float(model.optimizer.learning_rate))")),
    _m("start_fine_tuning", "no_recompile", "changes the learning rate without compiling again", "compiled again",
       (FINE_COMPILE, "    model.optimizer.learning_rate.assign(learning_rate)\n")),
    _m("start_fine_tuning", "first_stages", "unfreezes the first stages instead of the last", "trainable flags",
       ("layer.output.shape[1] <= last * 2 ** (stages - 1)", "layer.output.shape[1] >= last * 2 ** (stages - 1)")),
    _m("start_fine_tuning", "sgd_optimizer", "phase 2 recompiled with SGD", "optimizer for phase 2",
       ("optimizer=keras.optimizers.Adam(learning_rate)", "optimizer=keras.optimizers.SGD(learning_rate)")),
    _m("start_fine_tuning", "sparse_loss", "the sparse loss on one-hot labels", "loss for phase 2",
       (FINE_COMPILE, FINE_COMPILE.replace('"categorical_crossentropy"', '"sparse_categorical_crossentropy"'))),
    _m("start_fine_tuning", "logits_loss", "a loss that expects logits after a softmax", "loss for phase 2",
       (FINE_COMPILE, FINE_COMPILE.replace('loss="categorical_crossentropy"',
                                           "loss=keras.losses.CategoricalCrossentropy(from_logits=True)"))),
    _m("start_fine_tuning", "head_frozen", "freezes the head too", "the head keeps training",
       ("    base.trainable = True ", "    for layer in model.layers:\n        layer.trainable = False\n    base.trainable = True ")),
]
VARIANTS += [
    _v("load_pretrained", "course_resnet50", "the learner's own ResNet50 of notebook 4", resnet="course"),
    _v("load_pretrained", "gap_by_position", "the pooling layer found by position, copy_weights' count ignored",
       ("    gap = next(layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D))\n",
        "    gap = model.layers[-2]\n")),
    _v("build_transfer_model", "loop_freeze_l2_function", "each base layer frozen in a loop, keras.regularizers.l2",
       (TRANSFER_FREEZE, "    for layer in base.layers:\n        layer.trainable = False\n"),
       ("keras.regularizers.L2(l2) if l2 else None", "keras.regularizers.l2(l2) if l2 > 0 else None")),
    _v("build_transfer_model", "layernorm_last_axis", "LayerNormalization over the last axis, its epsilon changed",
       ("    X = layers.LayerNormalization()(X)", "    X = layers.LayerNormalization(axis=-1, epsilon=1e-5)(X)")),
    _v("build_transfer_model", "separate_activations", "Dense(units) then Activation('relu'), Dense then Softmax()",
       ('    X = layers.Dense(units, activation="relu", kernel_regularizer=regularizer)(X)\n',
        '    X = layers.Dense(units, kernel_regularizer=regularizer)(X)\n    X = layers.Activation("relu")(X)\n'),
       ('    outputs = layers.Dense(classes, activation="softmax")(X)',
        '    outputs = layers.Softmax()(layers.Dense(classes)(X))')),
    _v("start_fine_tuning", "loss_object", "the loss as an object, the optimizer by keyword",
       (FINE_COMPILE, "    model.compile(loss=keras.losses.CategoricalCrossentropy(),\n"
                      "                  optimizer=keras.optimizers.Adam(learning_rate=learning_rate), metrics=[\"accuracy\"])\n")),
    _v("start_fine_tuning", "two_passes", "unfreeze the whole last stages, then refreeze BatchNorm",
       (FINE_FLAG, "        layer.trainable = layer.output.shape[1] <= last * 2 ** (stages - 1)\n"
                   "        if isinstance(layer, layers.BatchNormalization) or not isinstance(layer, layers.Conv2D):\n"
                   "            layer.trainable = False\n")),
]

# ---- CIFAR-10 case study (appended; keep new entries at the end of MUTANTS and VARIANTS)
PRE_ACT = '    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)\n    X = layers.Activation("relu")(X)\n\n    # Step 1'
PRE_STEP1 = 'X = layers.Conv2D(F1, (1, 1), padding="valid", use_bias=False, kernel_initializer=initializer(seed=0))(X)'
PRE_STEP2 = 'X = layers.Conv2D(F2, (f, f), padding="same", use_bias=False, kernel_initializer=initializer(seed=0))(X)'
PRE_STEP3 = 'X = layers.Conv2D(F3, (1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)'
PRE_ADD = "    X = layers.Add()([X, X_shortcut])\n"
CAM_WEIGHTS = "    weights = tf.reduce_mean(grads, axis=(1, 2))                           # (m, K): alpha_k per image\n"
CAM_MAP = '    heatmaps = tf.nn.relu(tf.einsum("mhwk,mk->mhw", features, weights)).numpy()\n'
CAM_NORM = "    heatmaps = heatmaps / np.maximum(heatmaps.max(axis=(1, 2), keepdims=True), 1e-12)\n"
CAM_CLASS = ("        if class_index is None:\n            class_index = tf.argmax(probs, axis=1)\n")
MUTANTS += [
    _m("preactivation_block", "final_relu", "a ReLU after the Add, as in V1", "no ReLU after the Add",
       (PRE_ADD, PRE_ADD + '    X = layers.Activation("relu")(X)\n')),
    _m("preactivation_block", "post_activation", "notebook 2's order: Conv2D -> BatchNorm -> ReLU", "post-activation",
       (PRE_ACT, "    # Step 1"),
       (f"{PRE_STEP1}\n", f"{PRE_STEP1}\n    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)\n"
                          '    X = layers.Activation("relu")(X)\n    X_skip_pre = X\n'),
       ('    X_skip_pre = X\n    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)\n    X = layers.Activation("relu")(X)\n', ""),
       (f"{PRE_STEP2}\n", f"{PRE_STEP2}\n    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)\n"
                          '    X = layers.Activation("relu")(X)\n    X_skip_pre = X\n'),
       ('    X_skip_pre = X\n    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)\n    X = layers.Activation("relu")(X)\n', ""),
       (PRE_STEP3, PRE_STEP3 + "\n    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)")),
    _m("preactivation_block", "no_preactivation", "the first BatchNorm and ReLU left out", "starts with BatchNormalization -> ReLU on X",
       (PRE_ACT, "    # Step 1")),
    _m("preactivation_block", "shortcut_preactivated", "the shortcut taken after the pre-activation",
       "skips the pre-activation",
       ("    X_shortcut = X\n", ""), ("    # Step 1", "    X_shortcut = X\n    # Step 1")),
    _m("preactivation_block", "conv_bias", "every Conv2D keeps its bias", "needs no bias",
       (", use_bias=False", "")),
    _m("preactivation_block", "valid_padding", "the f x f Conv2D with padding='valid'", "check padding='same'",
       (PRE_STEP2, PRE_STEP2.replace('padding="same"', 'padding="valid"'))),
    _m("preactivation_block", "filters_swapped", "F1 and F2 swapped", "filters of the three Conv2D",
       ("F1, F2, F3 = filters", "F2, F1, F3 = filters")),
    _m("preactivation_block", "default_epsilon", "BatchNorm with Keras's default epsilon", "epsilon",
       ("layers.BatchNormalization(axis=3, epsilon=1.001e-5)", "layers.BatchNormalization(axis=3)")),
    _m("grad_cam", "no_relu", "negative evidence kept", "apply ReLU",
       (CAM_MAP, '    heatmaps = tf.einsum("mhwk,mk->mhw", features, weights).numpy()\n'),
       (CAM_NORM, "    heatmaps = heatmaps / np.abs(heatmaps).max(axis=(1, 2), keepdims=True)\n")),
    _m("grad_cam", "not_normalised", "maps not divided by their maximum", "not normalised",
       (CAM_NORM, "")),
    _m("grad_cam", "class_index_ignored", "always the predicted class", "predicted class, not of the class asked for",
       (CAM_CLASS, "        class_index = tf.argmax(probs, axis=1)\n")),
    _m("grad_cam", "per_position", "gradients times features, no average over positions", "channel's average gradient",
       (CAM_WEIGHTS, ""), (CAM_MAP, "    heatmaps = tf.nn.relu(tf.reduce_sum(grads * features, axis=-1)).numpy()\n")),
    _m("grad_cam", "training_mode", "the model called in training mode", "training mode",
       ("grad_model(images, training=False)", "grad_model(images, training=True)")),
    _m("grad_cam", "loss_gradient", "the gradient of a loss (minus the log-probability) instead of the probability",
       "evidence *against* the class",
       ("scores = tf.gather(probs, class_index, axis=1, batch_dims=1)",
        "scores = -tf.math.log(tf.gather(probs, class_index, axis=1, batch_dims=1))")),
    _m("grad_cam", "batch_max", "every map divided by the batch's largest value", "not each by its own maximum",
       (CAM_NORM, "    heatmaps = heatmaps / max(heatmaps.max(), 1e-12)\n")),
    _m("grad_cam", "channel_axis_kept", "maps returned with a channel axis", "drop the channel axis",
       ("    return heatmaps", "    return heatmaps[..., None]")),
    _m("grad_cam", "upsampled", "maps resized to the image size", "resizing to the image is done when plotting",
       ("    return heatmaps", "    return tf.image.resize(heatmaps[..., None], images.shape[1:3])[..., 0].numpy()")),
]
VARIANTS += [
    _v("preactivation_block", "plus_relu_layers_no_axis", "`+`, layers.ReLU(), BatchNorm without an axis, int kernel sizes",
       (PRE_ADD, "    X = X + X_shortcut\n"), ('layers.Activation("relu")', "layers.ReLU()"),
       ("layers.BatchNormalization(axis=3, epsilon=1.001e-5)", "layers.BatchNormalization(epsilon=1.001e-5)"),
       (PRE_STEP1, PRE_STEP1.replace("(1, 1)", "1"))),
    _v("preactivation_block", "helper_and_ops", "a BN-ReLU-conv helper, keras.ops.add, shortcut added first",
       ("    F1, F2, F3 = filters\n", "    F1, F2, F3 = filters\n\n"
        "    def bn_relu_conv(T, n, k, bias):\n"
        "        T = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(T)\n"
        "        T = layers.Activation(keras.activations.relu)(T)\n"
        "        return layers.Conv2D(n, k, padding='same', use_bias=bias, kernel_initializer=initializer(seed=0))(T)\n"
        "\n    return keras.ops.add(X, bn_relu_conv(bn_relu_conv(bn_relu_conv(X, F1, 1, False), F2, f, False), F3, 1, True))\n")),
    _v("grad_cam", "per_image_loop_numpy", "one image at a time, NumPy for the weighting",
       ("    images = tf.convert_to_tensor(images, dtype=tf.float32)\n",
        "    images = np.asarray(images, dtype='float32')\n    m = len(images)\n"
        "    if class_index is None:\n"
        "        class_index = np.argmax(grad_model(images, training=False)[1], axis=1)\n"
        "    classes = np.broadcast_to(np.asarray(class_index), (m,))\n    maps = []\n"
        "    for i in range(m):\n"
        "        with tf.GradientTape() as tape:\n"
        "            A, p = grad_model(images[i:i + 1], training=False)\n"
        "            score = p[0, int(classes[i])]\n"
        "        g = tape.gradient(score, A).numpy()[0]\n"
        "        cam = np.maximum((A.numpy()[0] * g.mean(axis=(0, 1))).sum(axis=-1), 0)\n"
        "        maps.append(cam / cam.max() if cam.max() > 0 else cam)\n"
        "    return np.stack(maps)\n")),
    _v("grad_cam", "one_hot_keras_ops", "a one-hot mask for the score, keras.ops for the map, returns a tensor",
       ("        scores = tf.gather(probs, class_index, axis=1, batch_dims=1)",
        "        scores = tf.reduce_sum(probs * tf.one_hot(class_index, tf.shape(probs)[1]), axis=1)"),
       (CAM_MAP, "    heatmaps = keras.ops.relu(keras.ops.sum(features * weights[:, None, None, :], axis=-1))\n"),
       (CAM_NORM, "    heatmaps = heatmaps / (keras.ops.max(heatmaps, axis=(1, 2), keepdims=True) + 1e-12)\n")),
]
