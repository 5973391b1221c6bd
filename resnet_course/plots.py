"""Plots of results: training curves, confusion matrices, a prediction on one image, epoch axes."""

from __future__ import annotations

import os

import numpy as np

from .data import IMAGE_SIZE, prepare_photo, unlike_training_photos


def plot_history(history, metrics=("loss", "accuracy", "precision", "recall")):
    """Plot training (and validation, when present) curves from ``model.fit``.

    Args:
        history: the ``keras.callbacks.History`` returned by ``fit`` (or its ``.history`` dict).
        metrics: the metric names to plot, one panel each; missing ones are skipped.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    hist = getattr(history, "history", history)
    names = [m for m in metrics if m in hist]
    if not names:
        raise ValueError(f"none of {list(metrics)} is in the history; it has {sorted(hist)}")
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(hist[name]) + 1)
        ax.plot(epochs, hist[name], marker="o", label="train")
        if f"val_{name}" in hist:
            ax.plot(epochs, hist[f"val_{name}"], marker="o", label="validation")
        ax.set_title(name)
        epoch_axis(ax, len(epochs))
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize=None):
    """Plot a confusion matrix with scikit-learn's display; returns the figure."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(y_true).ravel(),
        np.asarray(y_pred).ravel(),
        display_labels=class_names,
        normalize=normalize,
        ax=ax,
        colorbar=False,
    )
    ax.set_title("confusion matrix (rows: true class)")
    fig.tight_layout()
    return fig


def predict_image(model, image, class_names=None, show=True, verbose=True):
    """Predict the class of one photo ("test on your own hand").

    A file (any size; JPEG, PNG or anything Pillow reads; EXIF orientation, RGBA
    and grey are handled) is prepared exactly as the training photos were
    (``prepare_photo``: upright, RGB, centred square, Lanczos resize to the model's
    input size), and each step is printed. An array already at the model's input
    size is used as it is (uint8 in [0, 255] or floats in [0, 1]). For the course's
    64x64 networks, a photo darker, brighter, flatter, greyer or more colourful than
    every training photo, with a busier background, with the hand smaller, larger or
    elsewhere in the frame, or without a hand found by its colour, gets a note that says so.

    Args:
        model: a trained Keras model taking ``(batch, h, w, 3)`` images scaled to [0, 1].
        image: a path, a ``PIL.Image`` or an ``(h, w, 3)`` array.
        class_names: optional names for the output classes.
        show: display the prepared image with its prediction.
        verbose: print what was done to the photo.

    Returns:
        ``(predicted_index, probabilities)``.
    """
    height, width = tuple(model.input_shape[1:3])
    if height != width:
        raise ValueError(f"predict_image expects a model with square inputs, got {height}x{width}")
    if image is None:
        raise TypeError("predict_image needs a photo: a file path, a PIL image or an (h, w, 3) array; got None")
    arr = None if isinstance(image, (str, os.PathLike)) or hasattr(image, "getexif") else np.asarray(image)
    if arr is None:
        arr, steps = prepare_photo(image, size=height)
        if verbose:
            print("Prepared the photo as the training photos were: " + "; ".join(steps) + ".")
        x = arr[None].astype("float32") / 255.0
    else:
        if arr.shape != (height, width, 3):
            raise ValueError(
                f"expected an array of shape ({height}, {width}, 3), got {arr.shape}; "
                "pass a file path or a PIL image to have it prepared"
            )
        if arr.dtype != np.uint8 and arr.dtype.kind != "f":
            raise ValueError(
                f"expected uint8 pixels in [0, 255] or floats in [0, 1], got an array of {arr.dtype}; "
                "pass the file path to have it prepared (a 16-bit photo is scaled to 8 bits)"
            )
        if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr)) and arr.min() >= 0 and arr.max() <= 255):
            raise ValueError("expected floats in [0, 1] (or [0, 255]); the array holds values outside them")
        x = arr[None].astype("float32") / (255.0 if arr.dtype == np.uint8 or arr.max() > 1.0 else 1.0)
    if height == IMAGE_SIZE:
        notes = unlike_training_photos(np.clip(x[0] * 255.0, 0, 255).round().astype(np.uint8))
        if notes:
            print("Note: this photo looks unlike the training photos, where networks trained on them are often "
                  "wrong (notebook 4, section 5): it is " + "; ".join(notes) + ".")  # fmt: skip
    probs = np.asarray(model.predict(x, verbose=0))[0]
    if class_names is not None and len(class_names) != probs.size:
        raise ValueError(
            f"class_names has {len(class_names)} names, the model has {probs.size} classes: give one name per class"
        )
    index = int(np.argmax(probs))
    label = class_names[index] if class_names is not None else index
    if show:
        import matplotlib.pyplot as plt

        plt.figure(figsize=(2.5, 2.5))
        plt.imshow(np.clip(x[0], 0, 1))
        plt.title(f"prediction: {label} ({probs[index]:.0%})")
        plt.axis("off")
        plt.show()
    return index, probs


def epoch_axis(ax, epochs: int) -> None:
    """Label ``ax``'s x axis for a curve over ``epochs`` epochs: whole-epoch ticks, and for a single epoch
    (fast mode) a centred point with a note instead of a lone dot on an axis from 0.96 to 1.04."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs <= 1:
        ax.set_xlim(0, 2)
        ax.set_xticks([1])
        ax.text(
            0.5,
            0.04,
            "one epoch (fast mode): a point, no curve",
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize=8,
            color="0.35",
        )
