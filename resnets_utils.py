"""Data, plots, fast mode and weight helpers for the ResNet course: what a notebook needs besides its exercises.

A facade over ``resnet_course`` with the names the notebooks use:

* ``load_dataset`` / ``convert_to_one_hot`` / ``load_signers`` / ``signer_split`` / ``prepare_photo`` /
  ``augmentation_layers``: the shipped photos of hands (``resnet_course.data``);
* ``other_sources`` / ``PHOTO_SHIFTS``: copies of them as other people's cameras take them (``resnet_course.shifts``),
  and ``random_background_layer``, an augmentation that paints another wall behind the hand (``resnet_course.backgrounds``);
* ``fast_mode`` / ``course_setting`` / ``fit_verbosity`` / ``report_metric`` / ``start_tensorflow_quietly``:
  the one switch that shrinks epochs and data for CI and grading, and what the student sees
  (``resnet_course.fast``; every environment variable: ``resnet_course.config``);
* ``plot_history``, ``plot_confusion_matrix``, ``predict_image``, ``epoch_axis`` (``resnet_course.plots``);
* ``keras_blocks``, ``copy_weights``, ``count_flops``, ``refresh_batchnorm_statistics`` (``resnet_course.weights``);
* ``pretrained_resnet50`` and its sources (``resnet_course.pretrained``);
* ``load_cifar10`` and the CIFAR-10 stand-in (``resnet_course.cifar``, ``resnet_course.standin``).

Nothing here seeds random generators on import, and no exercise solution lives here: the
solutions live once, in the nbgrader source notebooks.
"""

from __future__ import annotations

from resnet_course.backgrounds import random_background_layer
from resnet_course.cifar import (
    CIFAR10_CLASSES,
    CIFAR10_FILES,
    CIFAR10_TRAIN_FILES,
    STANDIN_VERSION,
    Cifar10,
    load_cifar10,
    read_cifar10_folder,
    standin_folder,
    write_cifar10_folder,
)
from resnet_course.config import CACHE_ENV, CIFAR10_ENV, FAST_ENV, HEADLESS_ENV, METRICS_ENV, PUBLISHED_ENV, WEIGHTS_ENV
from resnet_course.data import (
    AUGMENTATION_LEVELS,
    IMAGE_SIZE,
    RESAMPLE,
    SIGNS_6TO9,
    DatasetError,
    augmentation_layers,
    convert_to_one_hot,
    load_dataset,
    load_signers,
    prepare_photo,
    signer_split,
)
from resnet_course.fast import (
    course_setting,
    fast_mode,
    fit_verbosity,
    headless,
    published_scale,
    report_metric,
    start_tensorflow_quietly,
)
from resnet_course.keras_internals import producer, walk_nodes
from resnet_course.paths import DATASET_DIR
from resnet_course.plots import epoch_axis, plot_confusion_matrix, plot_history, predict_image
from resnet_course.pretrained import (
    CHECKPOINT_RECIPE,
    COURSE_EPOCHS,
    IMAGENET_NOTOP,
    IMAGENET_ORIGIN,
    Pretrained,
    course_cache_dir,
    course_resnet50,
    imagenet_resnet50,
    pretrained_resnet50,
    train_resnet50_from_scratch,
)
from resnet_course.shifts import SHIFTS as PHOTO_SHIFTS
from resnet_course.shifts import other_sources
from resnet_course.standin import STANDIN_PER_CLASS, make_cifar10_standin
from resnet_course.weights import (
    copy_weights,
    count_flops,
    keras_blocks,
    refresh_batchnorm_statistics,
    weighted_layers_in_graph_order,
)

__all__ = [
    "DATASET_DIR",
    "DatasetError",
    "fast_mode",
    "published_scale",
    "course_setting",
    "load_dataset",
    "convert_to_one_hot",
    "report_metric",
    "plot_history",
    "plot_confusion_matrix",
    "epoch_axis",
    "predict_image",
    "keras_blocks",
    "weighted_layers_in_graph_order",
    "count_flops",
    "copy_weights",
    "refresh_batchnorm_statistics",
    "producer",
    "walk_nodes",
    "SIGNS_6TO9",
    "IMAGE_SIZE",
    "RESAMPLE",
    "load_signers",
    "signer_split",
    "prepare_photo",
    "AUGMENTATION_LEVELS",
    "augmentation_layers",
    "other_sources",
    "random_background_layer",
    "PHOTO_SHIFTS",
    "train_resnet50_from_scratch",
    "Pretrained",
    "IMAGENET_NOTOP",
    "IMAGENET_ORIGIN",
    "COURSE_EPOCHS",
    "CHECKPOINT_RECIPE",
    "imagenet_resnet50",
    "course_resnet50",
    "pretrained_resnet50",
    "course_cache_dir",
    "CIFAR10_CLASSES",
    "CIFAR10_FILES",
    "CIFAR10_TRAIN_FILES",
    "Cifar10",
    "load_cifar10",
    "read_cifar10_folder",
    "write_cifar10_folder",
    "make_cifar10_standin",
    "standin_folder",
    "STANDIN_VERSION",
    "STANDIN_PER_CLASS",
    "start_tensorflow_quietly",
    "headless",
    "fit_verbosity",
    "FAST_ENV",
    "PUBLISHED_ENV",
    "HEADLESS_ENV",
    "METRICS_ENV",
    "CACHE_ENV",
    "WEIGHTS_ENV",
    "CIFAR10_ENV",
]
