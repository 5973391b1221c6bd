"""Wrong implementations (mutants) and correct-but-different ones (variants).

Each entry edits the reference solution cell of an exercise (read from its
nbgrader source notebook) with literal ``(old, new)`` replacements; an edit
whose ``old`` text is not found is an error, so the catalogue cannot drift
silently from the solutions. Every mutant must fail its public test with an
``AssertionError`` containing ``message``; every variant must pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Entry:
    exercise: str
    id: str
    edits: tuple = ()
    message: str = ""            # mutants: text the failure message must contain
    what: str = ""
    extra: dict = field(default_factory=dict)


def _m(exercise, id, what, message, *edits, **extra):
    return Entry(exercise, id, tuple(edits), message, what, extra)


MUTANTS = [
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
    _m("identity_block", "no_conv_bias", "Conv2D without bias", "keeps its bias",
       ("kernel_initializer=initializer(seed=0))(X)", "kernel_initializer=initializer(seed=0), use_bias=False)(X)")),
    _m("identity_block", "fused_relu", "ReLU fused into the conv, before BatchNorm", "fused",
       (f"{STEP1_ID}\n    X = {BN}(X)\n    {RELU}",
        STEP1_FUSED + f"\n    X = {BN}(X)")),
    _m("identity_block", "bn_training_true", "BatchNorm hard-coded to training mode", "don't pass training=True",
       (f"X = {BN}(X)", f"X = {BN}(X, training=True)")),
    _m("identity_block", "shortcut_through_bn", "identity shortcut passes through a BatchNorm", "X itself",
       ("    X = layers.Add()([X, X_shortcut])", f"    X = layers.Add()([X, {BN}(X_shortcut)])")),
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
]


def _v(exercise, id, what, *edits, **extra):
    return Entry(exercise, id, tuple(edits), "", what, extra)


VARIANTS = [
    _v("identity_block", "plus_and_relu_layer", "`+` for the Add and layers.ReLU()",
       (FINAL, "    X = X + X_shortcut\n    X = layers.ReLU()(X)\n")),
    _v("identity_block", "ops_relu_add_function", "keras.ops.relu and layers.add([...])",
       (FINAL, "    X = layers.add([X_shortcut, X])\n    X = keras.ops.relu(X)\n")),
    _v("identity_block", "names_class_initializer", "a layer name, the initializer class passed as is, 'same' on a 1x1",
       (STEP1_ID, 'X = layers.Conv2D(F1, 1, padding="same", kernel_initializer=initializer, name="branch2a")(X)')),
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
