"""Wrong implementations (mutants) and correct-but-different ones (variants).

Each entry edits the reference solution cell of an exercise (read from its
nbgrader source notebook) with literal ``(old, new)`` replacements; an edit
whose ``old`` text is not found is an error, so the catalogue cannot drift
silently from the solutions. Every mutant must fail its public test with an
``AssertionError`` containing ``message``; every variant must pass.
"""

from __future__ import annotations

from .entry import Entry, _m, _v  # noqa: F401 - Entry is part of this module's interface

BN = 'layers.BatchNormalization(axis=3, epsilon=1.001e-5)'
RELU = 'X = layers.Activation("relu")(X)'
FINAL = '    X = layers.Add()([X, X_shortcut])\n    X = layers.Activation("relu")(X)\n'
STEP1_ID = 'X = layers.Conv2D(F1, (1, 1), strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)'
STEP1_CONV = 'X = layers.Conv2D(F1, (1, 1), strides=(s, s), padding="valid", kernel_initializer=initializer(seed=0))(X)'
STEP1_FUSED = STEP1_ID.replace("initializer(seed=0))", 'initializer(seed=0), activation="relu")')
STEP2 = 'X = layers.Conv2D(F2, (f, f), strides=(1, 1), padding="same", kernel_initializer=initializer(seed=0))(X)'
SHORTCUT_BN = f'    X_shortcut = {BN}(X_shortcut)\n'
SHORTCUT_CONV = ('    X_shortcut = layers.Conv2D(F3, (1, 1), strides=(s, s), padding="valid",\n'
                 '                               kernel_initializer=initializer(seed=0))(X_shortcut)\n')
# residual learning
UNIT_SHORTCUT = "    if residual:\n        Z = Z + X             # the shortcut\n    Y = np.maximum(Z, 0)\n"
CNN_ADD = '        if residual:\n            X = layers.Add()([X, X_shortcut])\n        X = layers.Activation("relu")(X)\n'
CNN_CONV = 'X = layers.Conv2D(width, (3, 3), padding="same", kernel_initializer=initializer())(X)'
CNN_STEM = ('X = layers.Conv2D(width, (3, 3), strides=(2, 2), padding="same", '
            'kernel_initializer=initializer())(X_input)')
CNN_DEPTH_CHECK = ('    if depth % 2 or depth < 4:\n'
                   '        raise ValueError(f"depth must be an even number of at least 4, got {depth}")\n')
# BatchNorm
BN_MEAN_UPDATE = "        new_moving_mean = momentum * moving_mean + (1 - momentum) * mean\n"
BN_VAR_UPDATE = "        new_moving_var = momentum * moving_var + (1 - momentum) * var\n"
BN_INFERENCE_STATS = "        new_moving_mean, new_moving_var = moving_mean.copy(), moving_var.copy()\n"
BN_OUT = "    out = gamma * (x - mean) / np.sqrt(var + epsilon) + beta\n"
BATCH_AXES = "tuple(range(x.ndim - 1))"
BNB_DX = "    dx = gamma / std * (dout - dout.mean(axis=axes) - x_hat * (dout * x_hat).mean(axis=axes))\n"
FREEZE_LOOP = ("    count = 0\n    for layer in model.layers:\n"
               "        if isinstance(layer, layers.BatchNormalization):\n"
               "            layer.trainable = False\n            count += 1\n"
               "        elif hasattr(layer, \"layers\"):            # a nested model: look inside it\n"
               "            count += freeze_batchnorm(layer)\n")


MUTANTS = [
    # ---- unit_forward
    _m("unit_forward", "no_final_relu", "the unit's final ReLU missing", "never negative",
       ("    Y = np.maximum(Z, 0)\n", "    Y = Z\n")),
    _m("unit_forward", "relu_before_add", "X added after the final ReLU", "add X before the final ReLU",
       (UNIT_SHORTCUT, "    Y = np.maximum(Z, 0)\n    if residual:\n        Y = Y + X\n")),
    _m("unit_forward", "always_residual", "the residual flag ignored: X always added", "plain unit: don't add X",
       ("    if residual:\n", "    if True:\n")),
    _m("unit_forward", "no_shortcut", "the shortcut never added", "adds the input X",
       ("        Z = Z + X             # the shortcut\n", "        Z = Z\n")),
    _m("unit_forward", "no_inner_relu", "no ReLU between the two layers", "A1 = ReLU(Z1)",
       ("    A1 = np.maximum(Z1, 0)\n", "    A1 = Z1\n")),
    _m("unit_forward", "changes_x_in_place", "adds the shortcut into the caller's X", "changed its argument X",
       ("        Z = Z + X             # the shortcut\n", "        X += Z\n        Z = X\n")),
    _m("unit_forward", "returns_tuple", "returns the pre-activation too", "returned several values",
       ("    return Y", "    return Y, Z")),
    _m("unit_forward", "w1_transposed", "multiplies by W1 transposed", "array shapes do not fit",
       ("    Z1 = X @ W1 + b1", "    Z1 = X @ W1.T + b1")),
    # ---- gradient_norms
    _m("gradient_norms", "no_shortcut_gradient", "the shortcut's identity term left out of the backward pass", "two paths",
       ("        if residual:\n            dX = dX + dZ                   # the shortcut: its Jacobian is the identity\n", "")),
    _m("gradient_norms", "reversed_order", "norms stored from the top unit down", "the order is reversed",
       ("        norms[l] = np.linalg.norm(dX)", "        norms[len(params) - 1 - l] = np.linalg.norm(dX)")),
    _m("gradient_norms", "squared_norms", "squared norms", "not their squares",
       ("np.linalg.norm(dX)", "np.linalg.norm(dX) ** 2")),
    _m("gradient_norms", "no_output_mask", "the final ReLU's mask left out", "backward through one unit",
       ("        dZ = dX * (Z > 0)", "        dZ = dX")),
    _m("gradient_norms", "returns_none", "forgets to return", "returned None",
       ("    return norms", "    return None")),
    # ---- build_cnn
    _m("build_cnn", "residual_ignored", "no Add even when residual=True", "every unit adds its input",
       ("        if residual:\n            X = layers.Add()", "        if False:\n            X = layers.Add()")),
    _m("build_cnn", "always_residual", "Add in the plain network too", "builds a plain network: no Add",
       ("        if residual:\n            X = layers.Add()", "        if True:\n            X = layers.Add()")),
    _m("build_cnn", "relu_before_add", "ReLU before the Add", "the unit's last ReLU comes after the Add",
       (CNN_ADD, '        X = layers.Activation("relu")(X)\n        if residual:\n            X = layers.Add()([X, X_shortcut])\n')),
    _m("build_cnn", "shortcut_from_stem", "every unit adds the stem's output", "the shortcut of unit 2",
       ("    for _ in range(units):\n        X_shortcut = X\n", "    X_shortcut = X\n    for _ in range(units):\n")),
    _m("build_cnn", "units_from_depth", "depth // 2 units instead of (depth - 2) // 2", "number of Conv2D layers",
       ("    units = (depth - 2) // 2", "    units = depth // 2")),
    _m("build_cnn", "no_depth_check", "odd depths accepted", "must raise ValueError",
       (CNN_DEPTH_CHECK, "")),
    _m("build_cnn", "flatten_head", "Flatten instead of global average pooling", "instead of Flatten",
       ("layers.GlobalAveragePooling2D()(X)", "layers.Flatten()(X)")),
    _m("build_cnn", "stem_stride_1", "stem convolution without its stride", "the stem Conv2D",
       (CNN_STEM, CNN_STEM.replace("strides=(2, 2)", "strides=(1, 1)"))),
    _m("build_cnn", "bn_epsilon", "BatchNorm epsilon of keras.applications", "BatchNormalization settings",
       ("        X = layers.BatchNormalization()(X)\n        X = layers.Activation",
        "        X = layers.BatchNormalization(epsilon=1.001e-5)(X)\n        X = layers.Activation")),
    _m("build_cnn", "bn_training_true", "BatchNorm hard-coded to training mode", "don't pass training=True",
       ("        X = layers.BatchNormalization()(X)\n        if residual:", "        X = layers.BatchNormalization()(X, training=True)\n        if residual:")),
    # ---- batchnorm_forward
    _m("batchnorm_forward", "batch_stats_at_inference", "normalises with the batch's statistics at inference",
       "normalises with the moving statistics, not with the batch's",
       ("        mean, var = moving_mean, moving_var\n",
        f"        mean, var = x.mean(axis={BATCH_AXES}), x.var(axis={BATCH_AXES})\n")),
    _m("batchnorm_forward", "unbiased_variance", "unbiased variance (ddof=1)", "use the biased variance",
       ("        var = x.var(axis=axes)", "        var = x.var(axis=axes, ddof=1)")),
    _m("batchnorm_forward", "unbiased_moving_variance", "moving variance updated with the unbiased batch variance "
       "(PyTorch's running_var)", "same biased batch variance it normalises with",
       (BN_VAR_UPDATE, "        new_moving_var = momentum * moving_var + (1 - momentum) * x.var(axis=axes, ddof=1)\n")),
    _m("batchnorm_forward", "momentum_swapped", "momentum applied to the batch statistic", "momentum weights the OLD",
       (BN_MEAN_UPDATE, "        new_moving_mean = (1 - momentum) * moving_mean + momentum * mean\n"),
       (BN_VAR_UPDATE, "        new_moving_var = (1 - momentum) * moving_var + momentum * var\n")),
    _m("batchnorm_forward", "epsilon_outside_sqrt", "epsilon added to the standard deviation", "epsilon goes inside the square root",
       ("np.sqrt(var + epsilon)", "(np.sqrt(var) + epsilon)")),
    _m("batchnorm_forward", "updates_at_inference", "moving statistics updated in inference mode too",
       "updated only in training mode",
       (BN_INFERENCE_STATS, f"        new_moving_mean = momentum * moving_mean + (1 - momentum) * x.mean(axis={BATCH_AXES})\n"
                            f"        new_moving_var = momentum * moving_var + (1 - momentum) * x.var(axis={BATCH_AXES})\n")),
    _m("batchnorm_forward", "updates_in_place", "updates the caller's moving_mean in place", "changed its argument moving_mean",
       (BN_MEAN_UPDATE, "        moving_mean *= momentum\n        moving_mean += (1 - momentum) * mean\n"
                        "        new_moving_mean = moving_mean\n")),
    _m("batchnorm_forward", "first_axis_only", "statistics over the batch axis only", "statistics are per channel",
       ("        axes = tuple(range(x.ndim - 1))", "        axes = 0")),
    _m("batchnorm_forward", "returns_out_only", "returns only the output", "returns three values",
       ("    return out, new_moving_mean, new_moving_var", "    return out")),
    _m("batchnorm_forward", "gamma_beta_swapped", "scale and offset swapped", "at inference, out = gamma",
       (BN_OUT, "    out = beta * (x - mean) / np.sqrt(var + epsilon) + gamma\n")),
    _m("batchnorm_forward", "wrong_default_epsilon", "PyTorch's default epsilon in the signature", "default momentum and epsilon",
       ("momentum=0.99, epsilon=1e-3):", "momentum=0.99, epsilon=1e-5):")),
    # ---- batchnorm_backward
    _m("batchnorm_backward", "statistics_constant", "the batch's mean and variance treated as constants",
       "held fixed (inference mode)", (BNB_DX, "    dx = gamma / std * dout\n")),
    _m("batchnorm_backward", "no_mean_path", "no gradient through the batch mean", "path through the batch mean",
       (" - dout.mean(axis=axes)", "")),
    _m("batchnorm_backward", "no_variance_path", "no gradient through the batch variance",
       "path through the batch variance", (" - x_hat * (dout * x_hat).mean(axis=axes)", "")),
    _m("batchnorm_backward", "unbiased_variance", "unbiased variance (ddof=1)", "use the biased variance",
       ("x.var(axis=axes)", "x.var(axis=axes, ddof=1)")),
    _m("batchnorm_backward", "epsilon_outside_sqrt", "epsilon added to the standard deviation",
       "epsilon goes inside the square root", ("np.sqrt(x.var(axis=axes) + epsilon)", "(np.sqrt(x.var(axis=axes)) + epsilon)")),
    _m("batchnorm_backward", "dgamma_with_x", "dgamma from x instead of x_hat", "not x itself",
       ("    dgamma = (dout * x_hat).sum(axis=axes)", "    dgamma = (dout * x).sum(axis=axes)")),
    _m("batchnorm_backward", "dbeta_mean", "dbeta as the mean of dout", "not their mean",
       ("    dbeta = dout.sum(axis=axes)", "    dbeta = dout.mean(axis=axes)")),
    _m("batchnorm_backward", "swapped_parameters", "dgamma and dbeta returned in the wrong order", "are swapped",
       ("    return dx, dgamma, dbeta", "    return dx, dbeta, dgamma")),
    _m("batchnorm_backward", "no_gamma_in_dx", "dx without the factor gamma", "carries the factor gamma",
       ("    dx = gamma / std *", "    dx = 1 / std *")),
    _m("batchnorm_backward", "first_axis_only", "sums and means over the batch axis only", "dgamma is per channel",
       ("    axes = tuple(range(x.ndim - 1))", "    axes = 0")),
    _m("batchnorm_backward", "sums_in_dx", "sums where the formula has means", "means per channel",
       (BNB_DX, "    dx = gamma / std * (dout - dout.sum(axis=axes) - x_hat * (dout * x_hat).sum(axis=axes))\n")),
    _m("batchnorm_backward", "centres_dout_in_place", "centres the caller's dout in place", "changed its argument dout",
       (BNB_DX, "    dout -= dout.mean(axis=axes)\n    dx = gamma / std * (dout - x_hat * (dout * x_hat).mean(axis=axes))\n")),
    _m("batchnorm_backward", "wrong_default_epsilon", "PyTorch's default epsilon in the signature", "keep the default",
       ("def batchnorm_backward(dout, x, gamma, epsilon=1e-3):", "def batchnorm_backward(dout, x, gamma, epsilon=1e-5):")),
    _m("batchnorm_backward", "returns_dx_only", "returns only dx", "returns three values",
       ("    return dx, dgamma, dbeta", "    return dx")),
    # ---- freeze_batchnorm
    _m("freeze_batchnorm", "top_level_only", "nested models not visited", "look inside nested models",
       ("        elif hasattr(layer, \"layers\"):            # a nested model: look inside it\n"
        "            count += freeze_batchnorm(layer)\n", "")),
    _m("freeze_batchnorm", "freezes_model", "model.trainable = False", "only BatchNormalization layers are frozen",
       ("    count = 0\n", "    model.trainable = False\n    count = 0\n")),
    _m("freeze_batchnorm", "freezes_nested_models", "sets trainable=False on nested models", "on a model freezes every layer",
       ("            count += freeze_batchnorm(layer)\n", "            layer.trainable = False\n            count += 1\n")),
    _m("freeze_batchnorm", "momentum_one", "momentum=1 instead of trainable=False", "momentum=1 only stops the moving averages",
       ("            layer.trainable = False\n", "            layer.momentum = 1.0\n")),
    _m("freeze_batchnorm", "by_name", "BatchNorm layers found by their default name", "by type",
       ("        if isinstance(layer, layers.BatchNormalization):", "        if \"batch_normalization\" in layer.name:")),
    _m("freeze_batchnorm", "all_normalizations", "LayerNormalization frozen too", "only BatchNormalization layers are frozen",
       ("isinstance(layer, layers.BatchNormalization)", "isinstance(layer, (layers.BatchNormalization, layers.LayerNormalization))")),
    _m("freeze_batchnorm", "returns_none", "forgets to return the count", "returns the number of BatchNormalization layers",
       ("            count += freeze_batchnorm(layer)", "            freeze_batchnorm(layer)"),
       ("    return count", "    return None")),
    _m("freeze_batchnorm", "nested_not_counted", "nested BatchNorm layers frozen but not counted", "nested ones included",
       ("            count += freeze_batchnorm(layer)", "            freeze_batchnorm(layer)")),
    _m("freeze_batchnorm", "no_return_with_recursion", "no return, so the recursive call gives None", "end with `return`",
       ("    return count", "    pass")),
    # ---- identity_block
    _m("identity_block", "no_final_relu", "final ReLU missing", "(no ReLU after it)",
       (FINAL, "    X = layers.Add()([X, X_shortcut])\n")),
    _m("identity_block", "relu_before_add", "ReLU applied before the Add instead of after", "move the ReLU after the Add",
       (FINAL, "    X = layers.Activation('relu')(X)\n    X = layers.Add()([X, X_shortcut])\n")),
    _m("identity_block", "no_shortcut", "the shortcut is never added", "applied to the output of the Add",
       ("    X = layers.Add()([X, X_shortcut])\n", "")),
    _m("identity_block", "valid_padding_fxf", "f x f conv with padding='valid'", "padding='same'",
       (STEP2, STEP2.replace('padding="same"', 'padding="valid"'))),
    _m("identity_block", "filters_swapped", "F1 and F2 swapped", "wrong order",
       ("F1, F2, F3 = filters", "F2, F1, F3 = filters")),
    _m("identity_block", "relu_before_bn", "ReLU before BatchNorm in step 1", "BatchNormalization comes before ReLU",
       (f"{STEP1_ID}\n    X = {BN}(X)\n    {RELU}", f"{STEP1_ID}\n    {RELU}\n    X = {BN}(X)")),
    _m("identity_block", "middle_kernel_1x1", "middle conv uses a 1x1 window", "kernel sizes",
       (STEP2, STEP2.replace("(f, f)", "(1, 1)"))),
    _m("identity_block", "default_bn_epsilon", "BatchNorm with Keras's default epsilon", "epsilon",
       (BN, "layers.BatchNormalization(axis=3)")),
    _m("identity_block", "bn_wrong_axis", "BatchNorm over the height axis", "channels axis",
       (BN, "layers.BatchNormalization(axis=1, epsilon=1.001e-5)")),
    _m("identity_block", "bn_after_add", "the third BatchNorm after the Add instead of before it",
       "belongs on the main path, before the Add",
       ('    X = layers.Add()([X, X_shortcut])\n    X = layers.Activation("relu")(X)\n',
        '    X = layers.Add()([X, X_shortcut])\n    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)\n'
        '    X = layers.Activation("relu")(X)\n'),
       ('    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)\n'
        '    X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)\n',
        '    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)\n')),
    _m("identity_block", "bn_momentum_from_pytorch", "PyTorch's BatchNorm momentum 0.1 copied as Keras's momentum",
       "momentum, center and scale", (BN, "layers.BatchNormalization(axis=3, epsilon=1.001e-5, momentum=0.1)")),
    _m("identity_block", "no_conv_bias", "Conv2D without bias", "keeps its bias",
       ("kernel_initializer=initializer(seed=0))(X)", "kernel_initializer=initializer(seed=0), use_bias=False)(X)")),
    _m("identity_block", "fused_relu", "ReLU fused into the conv, before BatchNorm", "fused",
       (f"{STEP1_ID}\n    X = {BN}(X)\n    {RELU}",
        STEP1_FUSED + f"\n    X = {BN}(X)")),
    _m("identity_block", "bn_training_true", "BatchNorm hard-coded to training mode", "don't pass training=True",
       (f"X = {BN}(X)", f"X = {BN}(X, training=True)")),
    _m("identity_block", "shortcut_through_bn", "identity shortcut passes through a BatchNorm", "X itself",
       ("    X = layers.Add()([X, X_shortcut])", f"    X = layers.Add()([X, {BN}(X_shortcut)])")),
    _m("identity_block", "initializer_ignored", "the f x f conv keeps Keras's default initializer",
       "come from the `initializer` argument", (STEP2, STEP2.replace(", kernel_initializer=initializer(seed=0)", ""))),
    _m("identity_block", "returns_none", "forgets to return", "returned None",
       ("    return X", "    return None")),
    _m("identity_block", "returns_numpy", "returns a NumPy array", "symbolic Keras tensor",
       ("    return X", "    return np.zeros((1, 5, 5, 6))")),
    _m("identity_block", "not_implemented", "the untouched stub", "not implemented yet",
       ("    F1, F2, F3 = filters", "    raise NotImplementedError()\n    F1, F2, F3 = filters")),
    _m("identity_block", "raises", "a typo that raises NameError", "NameError",
       ("    X_shortcut = X\n", "    X_shortcut = X_input\n")),
    _m("identity_block", "never_returns", "an infinite loop", "did not return within",
       ("    X_shortcut = X\n", "    X_shortcut = X\n    while True:\n        pass\n")),
    # ---- convolutional_block
    _m("convolutional_block", "shortcut_initializer_ignored", "the shortcut conv keeps Keras's default initializer",
       "the shortcut's included", (SHORTCUT_CONV, SHORTCUT_CONV.replace(",\n                               kernel_initializer=initializer(seed=0))", ")"))),
    _m("convolutional_block", "stride_ignored", "stride s ignored everywhere", "the stride s is ignored",
       ("strides=(s, s)", "strides=(1, 1)")),
    _m("convolutional_block", "stride_on_3x3", "stride on the f x f conv (ResNet v1.5)", "v1.5",
       (STEP1_CONV, STEP1_CONV.replace("strides=(s, s)", "strides=(1, 1)")),
       (STEP2, STEP2.replace("strides=(1, 1)", "strides=(s, s)"))),
    _m("convolutional_block", "no_shortcut_bn", "shortcut without its own BatchNorm", "its own BatchNormalization",
       (SHORTCUT_BN, "")),
    _m("convolutional_block", "identity_shortcut", "no projection on the shortcut", "different shapes",
       (SHORTCUT_CONV + SHORTCUT_BN, "")),
    _m("convolutional_block", "shortcut_stride_1", "shortcut conv ignores s", "different shapes",
       (SHORTCUT_CONV, SHORTCUT_CONV.replace("strides=(s, s)", "strides=(1, 1)"))),
    _m("convolutional_block", "shortcut_kernel_3x3", "3x3 window on the shortcut conv", "the shortcut's Conv2D",
       (SHORTCUT_CONV, SHORTCUT_CONV.replace("(F3, (1, 1), strides=(s, s), padding=\"valid\"",
                                             "(F3, (3, 3), strides=(s, s), padding=\"same\""))),
    _m("convolutional_block", "no_final_relu", "final ReLU missing", "(no ReLU after it)",
       (FINAL, "    X = layers.Add()([X, X_shortcut])\n")),
    _m("convolutional_block", "bn_without_scale", "BatchNorm without its learned scale gamma", "momentum, center and scale",
       (BN, "layers.BatchNormalization(axis=3, epsilon=1.001e-5, scale=False)")),
    _m("convolutional_block", "relu_before_add", "ReLU before the Add", "move the ReLU after the Add",
       (FINAL, "    X = layers.Activation('relu')(X)\n    X = layers.Add()([X, X_shortcut])\n")),
    _m("convolutional_block", "returns_model", "returns a Model instead of a tensor", "returned a Keras Model",
       ("    X_shortcut = X\n", "    X_shortcut = X\n    X_block_input = X\n"),
       ("    return X", "    return keras.Model(X_block_input, X)")),
    # ---- ResNet50
    _m("ResNet50", "stem_no_relu", "stem without ReLU", "the stem needs a ReLU",
       ('    X = layers.Activation("relu", name="conv1_relu")(X)\n', "")),
    _m("ResNet50", "maxpool_no_padding", "max-pool without its 1-pixel padding", "pad by one pixel",
       ('    X = layers.ZeroPadding2D((1, 1), name="pool1_pad")(X)\n', "")),
    _m("ResNet50", "stem_same_padding", "stem conv with padding='same' instead of ZeroPadding2D(3)", "padding='same' pads 2 and 3",
       ('    X = layers.ZeroPadding2D((3, 3), name="conv1_pad")(X_input)\n', "    X = X_input\n"),
       ('strides=(2, 2), name="conv1_conv")', 'strides=(2, 2), padding="same", name="conv1_conv")')),
    _m("ResNet50", "stem_no_bias", "bias-free stem convolution", "keeps its bias",
       ('name="conv1_conv")', 'use_bias=False, name="conv1_conv")')),
    _m("ResNet50", "avgpool_flatten", "AveragePooling2D(2) + Flatten instead of global pooling", "AveragePooling2D + Flatten",
       ('    X = layers.GlobalAveragePooling2D(name="avg_pool")(X)\n',
        '    X = layers.AveragePooling2D((2, 2))(X)\n    X = layers.Flatten()(X)\n')),
    _m("ResNet50", "stage4_five_blocks", "conv4_x with 5 blocks instead of 6", "number of blocks in each stage",
       ("        for _ in range(blocks - 1):", "        for _ in range(blocks - 1 - (filters[2] == 1024)):")),
    _m("ResNet50", "stage2_stride_2", "stage conv2_x with s=2", "stage 2 uses s=1",
       ("X = convolutional_block(X, f=3, filters=filters, s=s)", "X = convolutional_block(X, f=3, filters=filters, s=2)")),
    _m("ResNet50", "no_softmax", "linear classifier output", "activation",
       ('activation="softmax", name="predictions"', 'name="predictions"')),
    _m("ResNet50", "stem_bn_training", "stem BatchNorm hard-coded to training mode", "inference mode",
       ('name="conv1_bn")(X)', 'name="conv1_bn")(X, training=True)')),
    _m("ResNet50", "no_pooling", "Dense applied to the 4-D feature map", "pool the last feature map",
       ('    X = layers.GlobalAveragePooling2D(name="avg_pool")(X)\n', "")),
    _m("ResNet50", "maxpool_2x2", "2x2 max-pool in the stem", "the stem max-pool",
       ("layers.MaxPooling2D((3, 3), strides=(2, 2)", "layers.MaxPooling2D((2, 2), strides=(2, 2)")),
    _m("ResNet50", "returns_tensor", "returns the output tensor, not a model", "wrap it",
       ('    return keras.Model(inputs=X_input, outputs=X, name="ResNet50")', "    return X")),
    _m("ResNet50", "identity_blocks_3x3_vs_1x1", "middle convs of identity blocks with f=1", "call the blocks with f=3",
       ("X = identity_block(X, f=3, filters=filters)", "X = identity_block(X, f=1, filters=filters)")),
    # ---- block_summary
    _m("block_summary", "floor_division", "n // s for the output size", "ceil(n / s)",
       ("    output_shape = (-(-n_H // s), -(-n_W // s), F3)", "    output_shape = (n_H // s, n_W // s, F3)")),
    _m("block_summary", "input_channels", "the input's channels kept instead of F3", "has F3 channels",
       ("    output_shape = (-(-n_H // s), -(-n_W // s), F3)", "    output_shape = (-(-n_H // s), -(-n_W // s), n_C)")),
    _m("block_summary", "projection_only_for_stride", "a projection only when s != 1", "when the channels change",
       ("    projection = s != 1 or n_C != F3", "    projection = s != 1")),
    _m("block_summary", "projection_only_for_channels", "a projection only when the channels change",
       "cannot be added as it is", ("    projection = s != 1 or n_C != F3", "    projection = n_C != F3")),
    _m("block_summary", "no_biases", "convolutions counted without biases", "keeps its bias",
       ("        return k * k * c_in * c_out + c_out      # kernel and one bias per filter",
        "        return k * k * c_in * c_out")),
    _m("block_summary", "bn_two_per_channel", "BatchNorm counted with gamma and beta only", "4 numbers per channel",
       ("        return 4 * c                             # gamma, beta, moving mean, moving variance",
        "        return 2 * c")),
    _m("block_summary", "no_shortcut_parameters", "the projection's parameters left out", "its own Conv2D",
       ("        parameters += conv(1, n_C, F3) + bn(F3)  # the shortcut's own Conv2D and BatchNorm", "        pass")),
    _m("block_summary", "middle_conv_1x1", "the middle convolution counted as 1x1", "f * f * F1 * F2",
       ("conv(f, F1, F2)", "conv(1, F1, F2)")),
    _m("block_summary", "returns_two", "returns the shape and the count only", "(output_shape, projection, parameters)",
       ("    return output_shape, projection, parameters", "    return output_shape, parameters")),
]


VARIANTS = [
    _v("block_summary", "ceil_and_explicit_sums", "math.ceil, a NumPy bool and the sums written out",
       ("    output_shape = (-(-n_H // s), -(-n_W // s), F3)",
        "    import math\n    output_shape = (math.ceil(n_H / s), math.ceil(n_W / s), int(F3))"),
       ("    projection = s != 1 or n_C != F3", "    projection = np.bool_(s > 1 or n_C != F3)"),
       ("    parameters = conv(1, n_C, F1) + bn(F1) + conv(f, F1, F2) + bn(F2) + conv(1, F2, F3) + bn(F3)",
        "    parameters = (n_C * F1 + f * f * F1 * F2 + F2 * F3) + (F1 + F2 + F3) + 4 * (F1 + F2 + F3)")),
    _v("unit_forward", "dot_and_mask", "np.dot and x * (x > 0)",
       ("    Z1 = X @ W1 + b1\n    A1 = np.maximum(Z1, 0)\n", "    Z1 = np.dot(X, W1) + b1\n    A1 = Z1 * (Z1 > 0)\n"),
       ("    Y = np.maximum(Z, 0)\n", "    Y = Z * (Z > 0)\n")),
    _v("unit_forward", "one_line_clip", "one expression with np.clip",
       ("    Z1 = X @ W1 + b1\n", "    Y = np.clip(np.clip(X @ W1 + b1, 0, None) @ W2 + b2 + (X if residual else 0), 0, None)\n"
        "    return Y\n    Z1 = X @ W1 + b1\n")),
    _v("gradient_norms", "list_and_where", "a Python list built top-down, np.where masks, sqrt of sums",
       ("    norms = np.zeros(len(params))\n", "    norms = []\n"),
       ("        dZ = dX * (Z > 0)", "        dZ = np.where(Z > 0, dX, 0.0)"),
       ("        norms[l] = np.linalg.norm(dX)", "        norms.insert(0, float(np.sqrt(np.sum(dX ** 2))))")),
    _v("gradient_norms", "where_relu_forward", "np.where for the forward ReLU",
       ("        caches.append((Z1, Z))\n        X = np.maximum(Z, 0)\n",
        "        caches.append((Z1, Z))\n        X = np.where(Z > 0, Z, 0)\n")),
    _v("build_cnn", "plus_relu_layer_names", "`+` for the Add, layers.ReLU(), named layers",
       (CNN_ADD, "        if residual:\n            X = X + X_shortcut\n        X = layers.ReLU()(X)\n"),
       (CNN_STEM, CNN_STEM.replace("(X_input)", "(X_input)").replace("kernel_initializer=initializer())",
                                   'kernel_initializer=initializer(), name="stem_conv")'))),
    _v("build_cnn", "ops_add_shortcut_first", "keras.ops.add with the shortcut first, Activation(keras.activations.relu)",
       (CNN_ADD, "        if residual:\n            X = keras.ops.add(X_shortcut, X)\n"
                 "        X = layers.Activation(keras.activations.relu)(X)\n"),
       ("    if depth % 2 or depth < 4:", "    if depth < 4 or depth % 2 == 1:")),
    _v("batchnorm_forward", "manual_variance", "variance as the mean of squared deviations",
       ("        var = x.var(axis=axes)", "        var = ((x - mean) ** 2).mean(axis=axes)")),
    _v("batchnorm_forward", "flattened_channels", "reshape to (-1, C) and per-column statistics",
       ("        mean = x.mean(axis=axes)\n", "        flat = x.reshape(-1, x.shape[-1])\n        mean = flat.mean(axis=0)\n"),
       ("        var = x.var(axis=axes)", "        var = flat.var(axis=0)")),
    _v("batchnorm_forward", "same_arrays_inverse_std", "returns the given arrays at inference, multiplies by an inverse std",
       (BN_INFERENCE_STATS, "        new_moving_mean, new_moving_var = moving_mean, moving_var\n"),
       (BN_OUT, "    inv_std = 1.0 / np.sqrt(var + epsilon)\n    out = (x - mean) * (gamma * inv_std) + beta\n")),
    _v("batchnorm_backward", "staged_graph", "the chain rule node by node (variance, then mean, then x)",
       (BNB_DX, "    n = x.size // x.shape[-1]\n    xmu = x - mean\n    ivar = 1.0 / std\n    dxhat = dout * gamma\n"
                "    dvar = (dxhat * xmu).sum(axis=axes) * -0.5 * ivar ** 3\n"
                "    dmean = -(dxhat * ivar).sum(axis=axes) + dvar * -2.0 * xmu.mean(axis=axes)\n"
                "    dx = dxhat * ivar + dvar * 2.0 * xmu / n + dmean / n\n")),
    _v("batchnorm_backward", "flattened_compact", "reshape to (-1, C), the compact formula with n, float32-safe casts",
       (BNB_DX, "    n = np.prod(x.shape[:-1])\n    g = np.asarray(dout, dtype=np.float64).reshape(-1, x.shape[-1])\n"
                "    xh = x_hat.reshape(-1, x.shape[-1])\n"
                "    dx = (gamma / (n * std) * (n * g - g.sum(axis=0) - xh * (g * xh).sum(axis=0))).reshape(x.shape)\n")),
    _v("freeze_batchnorm", "explicit_stack", "an explicit stack instead of recursion",
       (FREEZE_LOOP, "    count, stack = 0, list(model.layers)\n    while stack:\n        layer = stack.pop()\n"
                     "        if isinstance(layer, keras.layers.BatchNormalization):\n"
                     "            layer.trainable = False\n            count += 1\n"
                     "        else:\n            stack.extend(getattr(layer, \"layers\", []))\n")),
    _v("freeze_batchnorm", "flatten_layers", "Keras's own recursive layer listing",
       (FREEZE_LOOP, "    bns = [l for l in model._flatten_layers(include_self=False) if isinstance(l, layers.BatchNormalization)]\n"
                     "    for layer in bns:\n        layer.trainable = False\n    count = len(bns)\n")),
    _v("identity_block", "plus_and_relu_layer", "`+` for the Add and layers.ReLU()",
       (FINAL, "    X = X + X_shortcut\n    X = layers.ReLU()(X)\n")),
    _v("identity_block", "ops_relu_add_function", "keras.ops.relu and layers.add([...])",
       (FINAL, "    X = layers.add([X_shortcut, X])\n    X = keras.ops.relu(X)\n")),
    _v("identity_block", "names_class_initializer", "a layer name, the initializer class passed as is, 'same' on a 1x1",
       (STEP1_ID, 'X = layers.Conv2D(F1, 1, padding="same", kernel_initializer=initializer, name="branch2a")(X)')),
    _v("identity_block", "bn_defaults_spelled_out", "BatchNorm's default momentum, center and scale written out",
       (BN, "layers.BatchNormalization(axis=3, epsilon=1.001e-5, momentum=0.99, center=True, scale=True)")),
    _v("identity_block", "bn_axis_minus_one", "BatchNormalization(axis=-1)",
       (BN, "layers.BatchNormalization(axis=-1, epsilon=1.001e-5)")),
    _v("convolutional_block", "shortcut_first", "shortcut built before the main path, Activation(keras.activations.relu)",
       (SHORTCUT_CONV + SHORTCUT_BN, ""),
       ("    X_shortcut = X\n", "    X_shortcut = X\n" + SHORTCUT_CONV + SHORTCUT_BN),
       (FINAL, "    X = layers.Add()([X_shortcut, X])\n    X = layers.Activation(keras.activations.relu)(X)\n")),
    _v("convolutional_block", "ops_add", "keras.ops.add and ReLU layer",
       (FINAL, "    X = keras.ops.add(X, X_shortcut)\n    X = layers.ReLU()(X)\n")),
    _v("ResNet50", "course_blocks", "built from the course's own block solutions", blocks="course"),
    _v("ResNet50", "softmax_layer_no_names", "separate Softmax layer, no layer names, ZeroPadding2D(3)",
       ('layers.ZeroPadding2D((3, 3), name="conv1_pad")', "layers.ZeroPadding2D(3)"),
       ('    X = layers.Dense(classes, activation="softmax", name="predictions")(X)\n',
        "    X = layers.Dense(classes)(X)\n    X = layers.Softmax()(X)\n")),
    _v("identity_block", "steps_in_a_loop", "the three steps in a loop, integer kernel sizes, axis=-1, layers.ReLU",
       ('    # Step 1: squeeze the channels to F1 with a 1x1 convolution.\n'
        f'    {STEP1_ID}\n    X = {BN}(X)\n    {RELU}\n\n'
        "    # Step 2: the f x f convolution; 'same' padding keeps n_H and n_W.\n"
        f'    {STEP2}\n    X = {BN}(X)\n    {RELU}\n\n'
        '    # Step 3: restore F3 channels; no ReLU before the addition.\n'
        '    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)\n'
        f'    X = {BN}(X)\n',
        '    for i, (F, k) in enumerate([(F1, 1), (F2, f), (F3, 1)]):\n'
        '        X = layers.Conv2D(F, k, padding="same" if k > 1 else "valid", kernel_initializer=initializer(seed=0))(X)\n'
        '        X = layers.BatchNormalization(axis=-1, epsilon=1.001e-5)(X)\n'
        '        if i < 2:\n'
        '            X = layers.ReLU()(X)\n')),
    _v("convolutional_block", "conv_bn_helper", "a local conv + BatchNorm (+ ReLU) helper, the shortcut built first",
       ('    # Main path, step 1: the stride s shrinks height and width here.\n'
        f'    {STEP1_CONV}\n    X = {BN}(X)\n    {RELU}\n\n'
        "    # Step 2: f x f convolution with 'same' padding.\n"
        f'    {STEP2}\n    X = {BN}(X)\n    {RELU}\n\n'
        '    # Step 3: back to F3 channels, no ReLU yet.\n'
        '    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)\n'
        f'    X = {BN}(X)\n\n'
        '    # Projection shortcut: same stride and channels as the main path.\n' + SHORTCUT_CONV + SHORTCUT_BN,
        '    def conv_bn(Z, filters, kernel, stride, relu):\n'
        '        Z = layers.Conv2D(filters, kernel, strides=stride, padding="same" if kernel > 1 else "valid",\n'
        '                          kernel_initializer=initializer(seed=0))(Z)\n'
        '        Z = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(Z)\n'
        '        return layers.Activation("relu")(Z) if relu else Z\n\n'
        '    X_shortcut = conv_bn(X_shortcut, F3, 1, s, relu=False)\n'
        '    X = conv_bn(X, F1, 1, s, relu=True)\n'
        '    X = conv_bn(X, F2, f, 1, relu=True)\n'
        '    X = conv_bn(X, F3, 1, 1, relu=False)\n')),
    _v("ResNet50", "stages_spelled_out", "the 16 blocks called one by one with positional arguments, MaxPool2D(3, 2)",
       ("    for blocks, filters, s in STAGES:\n"
        "        X = convolutional_block(X, f=3, filters=filters, s=s)\n"
        "        for _ in range(blocks - 1):\n"
        "            X = identity_block(X, f=3, filters=filters)\n",
        "    X = convolutional_block(X, 3, [64, 64, 256], 1)\n"
        "    X = identity_block(X, 3, [64, 64, 256])\n"
        "    X = identity_block(X, 3, [64, 64, 256])\n"
        "    X = convolutional_block(X, 3, [128, 128, 512], 2)\n"
        "    for _ in range(3):\n"
        "        X = identity_block(X, 3, [128, 128, 512])\n"
        "    X = convolutional_block(X, 3, [256, 256, 1024], 2)\n"
        "    for _ in range(5):\n"
        "        X = identity_block(X, 3, [256, 256, 1024])\n"
        "    X = convolutional_block(X, 3, [512, 512, 2048], 2)\n"
        "    X = identity_block(X, 3, [512, 512, 2048])\n"
        "    X = identity_block(X, 3, [512, 512, 2048])\n"),
       ('layers.MaxPooling2D((3, 3), strides=(2, 2), name="pool1_pool")', "layers.MaxPool2D(3, 2)")),
]

# ---- basic_block (notebook 4, ResNet-18/34; appended)
BASIC_CONV1 = ('X = layers.Conv2D(filters, (3, 3), strides=(s, s), padding="same", '
               'kernel_initializer=initializer(seed=0))(X)')
BASIC_CONV2 = ('X = layers.Conv2D(filters, (3, 3), strides=(1, 1), padding="same", '
               'kernel_initializer=initializer(seed=0))(X)')
BASIC_MAIN = f"{BASIC_CONV1}\n    X = {BN}(X)\n    {RELU}\n    {BASIC_CONV2}\n"
BASIC_IF = "    if s != 1 or X_shortcut.shape[-1] != filters:\n"
MUTANTS += [
    _m("basic_block", "no_projection_for_channels", "a projection only when s != 1", "whenever s != 1 or X's channels",
       (BASIC_IF, "    if s != 1:\n")),
    _m("basic_block", "always_projection", "a projection even when the shape does not change", "is X itself",
       (BASIC_IF, "    if True:\n")),
    _m("basic_block", "stride_on_second", "the stride on the second 3x3 convolution", "belongs on the first",
       (BASIC_MAIN, f"{BASIC_CONV1.replace('strides=(s, s)', 'strides=(1, 1)')}\n    X = {BN}(X)\n    {RELU}\n"
                    f"    {BASIC_CONV2.replace('strides=(1, 1)', 'strides=(s, s)')}\n")),
    _m("basic_block", "stride_ignored", "stride s ignored everywhere", "stride s is ignored",
       ("strides=(s, s)", "strides=(1, 1)")),
    _m("basic_block", "main_stride_ignored", "s used by the shortcut only", "put the stride s on the first 3x3 conv",
       (BASIC_CONV1, BASIC_CONV1.replace("strides=(s, s)", "strides=(1, 1)"))),
    _m("basic_block", "relu_before_add", "a ReLU after the second BatchNorm, before the Add", "comes after the Add",
       ("    # Add the shortcut", f"    {RELU}\n    # Add the shortcut")),
    _m("basic_block", "no_final_relu", "no ReLU after the Add", "must end with a ReLU applied after the Add",
       (FINAL, "    X = layers.Add()([X, X_shortcut])\n")),
    _m("basic_block", "valid_padding", "the second 3x3 convolution with padding='valid'", "padding='same' on both 3x3",
       (BASIC_CONV2, BASIC_CONV2.replace('padding="same"', 'padding="valid"'))),
    _m("basic_block", "one_conv", "a single 3x3 convolution on the main path", "two 3x3 Conv2D",
       (f"    {BASIC_CONV2}\n    X = {BN}(X)\n", "")),
    _m("basic_block", "fused_relu", "Conv2D(activation='relu') instead of a ReLU after BatchNorm", "before BatchNorm",
       (BASIC_CONV1, BASIC_CONV1.replace("initializer(seed=0))", 'initializer(seed=0), activation="relu")'))),
    _m("basic_block", "initializer_ignored", "Keras's default initializer in the shortcut's Conv2D",
       "come from the `initializer` argument",
       ("                                   kernel_initializer=initializer(seed=0))(X_shortcut)",
        "                                   )(X_shortcut)")),
    _m("basic_block", "no_conv_bias", "every Conv2D without its bias", "keeps its bias",
       ("kernel_initializer=initializer(seed=0))", "kernel_initializer=initializer(seed=0), use_bias=False)")),
    _m("basic_block", "momentum", "BatchNorm with momentum=0.9", "momentum",
       (BN, BN.replace(")", ", momentum=0.9)"))),
]
VARIANTS += [
    _v("basic_block", "plus_relu_layer_axis", "`+`, layers.ReLU(), axis=-1, int kernel sizes and strides",
       ("    X = layers.Add()([X, X_shortcut])\n", "    X = X + X_shortcut\n"), ('layers.Activation("relu")', "layers.ReLU()"),
       (BN, BN.replace("axis=3", "axis=-1")), (BASIC_CONV1, BASIC_CONV1.replace("(3, 3), strides=(s, s)", "3, strides=s"))),
    _v("basic_block", "shortcut_first_ops", "the shortcut built first, layers.add and an Activation of keras.ops.relu",
       ("    X_shortcut = X\n", "    X_shortcut = X\n    if s != 1 or X.shape[-1] != filters:\n"
        "        X_shortcut = layers.Conv2D(filters, 1, strides=s, kernel_initializer=initializer(seed=0))(X)\n"
        f"        X_shortcut = {BN}(X_shortcut)\n"),
       (f"{BASIC_IF}        X_shortcut = layers.Conv2D(filters, (1, 1), strides=(s, s), padding=\"valid\",\n"
        "                                   kernel_initializer=initializer(seed=0))(X_shortcut)\n"
        f"        X_shortcut = {BN}(X_shortcut)\n", ""),
       (FINAL, "    X = layers.add([X, X_shortcut])\n    X = layers.Activation(keras.ops.relu)(X)\n")),
]

# ---- notebooks 6 and 7 (transfer learning, CIFAR-10): their own module, appended in order
from .mutants_6_7 import MUTANTS as _MUTANTS_6_7  # noqa: E402
from .mutants_6_7 import VARIANTS as _VARIANTS_6_7  # noqa: E402

MUTANTS += _MUTANTS_6_7
VARIANTS += _VARIANTS_6_7
