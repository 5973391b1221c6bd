"""Draw the course's block diagrams into ``images/`` (matplotlib, deterministic).

* ``residual_unit.png``: a plain unit next to a residual unit, F(x) + x.
* ``identity_block.png``: ResNet-50's bottleneck identity block.
* ``convolutional_block.png``: the bottleneck block with a projection shortcut.
* ``resnet50_stages.png``: ResNet-50's stem, four stages and head, with output sizes at 64x64.

The notebooks embed them as ``../../images/<name>.png``, which works from both
``source/<assignment>/`` and ``notebooks/<assignment>/``.

Usage (from the repository root)::

    python -m tools.make_figures            # writes images/*.png
    python -m tools.make_figures --check    # redraws in memory and compares the pixels with images/
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"
DPI = 100

# One colour per kind of layer, the same in every figure.
COLOURS = {
    "conv": "#cfe2f3",
    "bn": "#fce5cd",
    "relu": "#d9ead3",
    "add": "#ffffff",
    "pool": "#e6e0f0",
    "dense": "#f4cccc",
    "io": "#eeeeee",
}


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "resnet-course"})
    return plt


def _box(ax, x, y, text, kind, w=1.0, h=0.62):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=COLOURS[kind],
            edgecolor="#444444",
            linewidth=0.9,
            zorder=3,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8, zorder=4)


def _add(ax, x, y):
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), 0.2, facecolor=COLOURS["add"], edgecolor="#444444", linewidth=0.9))
    ax.text(x, y, "+", ha="center", va="center", fontsize=11)


def _arrow(ax, start, end, colour="#444444", style="-|>", rad=0.0):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=10,
            color=colour,
            linewidth=1.0,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=0,
            shrinkB=0,
        )
    )


def _chain(ax, steps, y, x0=0.0, gap=1.25, w=1.0):
    """Draw boxes left to right joined by arrows; returns the x of each box."""
    xs = [x0 + i * gap for i in range(len(steps))]
    for i, (x, (text, kind)) in enumerate(zip(xs, steps)):
        if kind == "add":
            _add(ax, x, y)
        else:
            _box(ax, x, y, text, kind, w=w)
        if i:
            left = xs[i - 1] + (0.2 if steps[i - 1][1] == "add" else w / 2)
            right = x - (0.2 if kind == "add" else w / 2)
            _arrow(ax, (left, y), (right, y))
    return xs


def _shortcut(ax, x_from, x_to, y, height, label, box=None, w=1.0):
    """A shortcut path above the main chain, from the chain input to the '+' node."""
    top = y + height
    ax.plot([x_from, x_from, x_to, x_to], [y + 0.31, top, top, y + 0.45], color="#1f4e79", linewidth=1.2, zorder=2)
    _arrow(ax, (x_to, y + 0.45), (x_to, y + 0.2), colour="#1f4e79")
    if box:
        mid = (x_from + x_to) / 2
        xs = [mid + (k - (len(box) - 1) / 2) * 1.25 for k in range(len(box))]
        for x, (text, kind) in zip(xs, box):
            _box(ax, x, top, text, kind, w=w)
        for left, right in zip(xs, xs[1:]):
            _arrow(ax, (left + w / 2, top), (right - w / 2, top), colour="#1f4e79")
        ax.text(mid, top + 0.5, label, ha="center", va="bottom", fontsize=8, color="#1f4e79")
    else:
        ax.text((x_from + x_to) / 2, top + 0.08, label, ha="center", va="bottom", fontsize=8, color="#1f4e79")


def _finish(fig, ax, xlim, ylim):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0, right=1, top=1, bottom=0)


def residual_unit(plt):
    fig, ax = plt.subplots(figsize=(8.6, 3.3), dpi=DPI)
    ax.text(-0.6, 3.55, "plain unit: learns H(x) directly", fontsize=9, weight="bold")
    _chain(
        ax,
        [
            ("x", "io"),
            ("weight\nlayer", "conv"),
            ("ReLU", "relu"),
            ("weight\nlayer", "conv"),
            ("ReLU", "relu"),
            ("H(x)", "io"),
        ],
        y=2.85,
    )
    ax.text(-0.6, 1.75, "residual unit: learns F(x) = H(x) - x, then adds x back", fontsize=9, weight="bold")
    xs = _chain(
        ax,
        [
            ("x", "io"),
            ("weight\nlayer", "conv"),
            ("ReLU", "relu"),
            ("weight\nlayer", "conv"),
            ("+", "add"),
            ("ReLU", "relu"),
            ("F(x) + x", "io"),
        ],
        y=0.45,
    )
    ax.text((xs[1] + xs[3]) / 2, -0.1, "F(x)", ha="center", va="top", fontsize=8, style="italic")
    _shortcut(ax, xs[0], xs[4], 0.45, 0.85, "identity shortcut: x")
    _finish(fig, ax, (-0.7, 8.3), (-0.45, 3.75))
    return fig


def _bottleneck(plt, projection: bool):
    fig, ax = plt.subplots(figsize=(11.2, 2.9 if projection else 2.5), dpi=DPI)
    stride = ", stride s" if projection else ""
    steps = [
        ("X", "io"),
        (f"Conv2D 1x1\nF1{stride}", "conv"),
        ("BatchNorm", "bn"),
        ("ReLU", "relu"),
        ("Conv2D fxf\nF2, same", "conv"),
        ("BatchNorm", "bn"),
        ("ReLU", "relu"),
        ("Conv2D 1x1\nF3", "conv"),
        ("BatchNorm", "bn"),
        ("+", "add"),
        ("ReLU", "relu"),
        ("output", "io"),
    ]
    xs = _chain(ax, steps, y=0.4, gap=1.0, w=0.86)
    if projection:
        _shortcut(
            ax,
            xs[0],
            xs[9],
            0.4,
            1.25,
            "projection shortcut: W_s X, same shape as the main path",
            box=[("Conv2D 1x1\nF3, stride s", "conv"), ("BatchNorm", "bn")],
            w=0.86,
        )
        title = "convolutional block: ReLU(F(X) + W_s X), output (ceil(n_H / s), ceil(n_W / s), F3)"
        top = 2.55
    else:
        _shortcut(ax, xs[0], xs[9], 0.4, 0.8, "identity shortcut: X unchanged (F3 = n_C)")
        title = "identity block: ReLU(F(X) + X), output shape = input shape"
        top = 1.85
    ax.text(-0.45, top, title, fontsize=9, weight="bold")
    for i, name in ((1, "step 1"), (4, "step 2"), (7, "step 3")):
        ax.text(xs[i] + 0.5, -0.05, name, ha="center", va="top", fontsize=7.5, color="#666666")
    _finish(fig, ax, (-0.5, 11.5), (-0.4, top + 0.25))
    return fig


def identity_block(plt):
    return _bottleneck(plt, projection=False)


def convolutional_block(plt):
    return _bottleneck(plt, projection=True)


STAGE_ROWS = [
    # (part, layers, output at 64x64, kind)
    (
        "stem",
        "ZeroPad 3 -> Conv2D 7x7/2, 64 -> BatchNorm -> ReLU -> ZeroPad 1 -> MaxPool 3x3/2",
        "16 x 16 x 64",
        "conv",
    ),
    ("conv2_x", "conv block [64, 64, 256], s=1  +  2 identity blocks", "16 x 16 x 256", "bn"),
    ("conv3_x", "conv block [128, 128, 512], s=2  +  3 identity blocks", "8 x 8 x 512", "bn"),
    ("conv4_x", "conv block [256, 256, 1024], s=2  +  5 identity blocks", "4 x 4 x 1024", "bn"),
    ("conv5_x", "conv block [512, 512, 2048], s=2  +  2 identity blocks", "2 x 2 x 2048", "bn"),
    ("head", "GlobalAveragePooling2D -> Dense(classes, softmax)", "classes", "dense"),
]


def resnet50_stages(plt):
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(8.2, 3.35), dpi=DPI)
    widths = [1.2, 6.8, 2.0]
    heads = ["part", "layers", "output at 64x64"]
    y = len(STAGE_ROWS) * 0.5 + 0.5
    x = 0.0
    for width, head in zip(widths, heads):
        ax.add_patch(Rectangle((x, y - 0.25), width, 0.5, facecolor="#dddddd", edgecolor="#444444", linewidth=0.8))
        ax.text(x + width / 2, y, head, ha="center", va="center", fontsize=8.5, weight="bold")
        x += width
    for r, (part, text, out, kind) in enumerate(STAGE_ROWS):
        y = len(STAGE_ROWS) * 0.5 - r * 0.5
        x = 0.0
        for width, cell, colour in zip(widths, (part, text, out), (COLOURS[kind], "#ffffff", "#ffffff")):
            ax.add_patch(Rectangle((x, y - 0.25), width, 0.5, facecolor=colour, edgecolor="#444444", linewidth=0.8))
            ax.text(
                x + (width / 2 if cell is not text else 0.12),
                y,
                cell,
                ha="center" if cell is not text else "left",
                va="center",
                fontsize=8,
            )
            x += width
    ax.text(
        0,
        len(STAGE_ROWS) * 0.5 + 1.0,
        "ResNet-50: 1 + 3 x (3 + 4 + 6 + 3) + 1 = 50 weighted layers",
        fontsize=9,
        weight="bold",
    )
    _finish(fig, ax, (-0.05, sum(widths) + 0.05), (0.2, len(STAGE_ROWS) * 0.5 + 1.3))
    return fig


FIGURES = {
    "residual_unit.png": residual_unit,
    "identity_block.png": identity_block,
    "convolutional_block.png": convolutional_block,
    "resnet50_stages.png": resnet50_stages,
}


def render(name: str) -> bytes:
    """The PNG bytes of figure ``name`` (no timestamp or version in the metadata)."""
    plt = _matplotlib()
    fig = FIGURES[name](plt)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def differences() -> list[str]:
    """Figures whose committed pixels differ from a fresh drawing."""
    problems = []
    for name in FIGURES:
        path = IMAGES / name
        if not path.is_file():
            problems.append(f"missing: images/{name}")
        else:
            fresh, committed = pixels(render(name)), pixels(path.read_bytes())
            if fresh.shape != committed.shape or not np.array_equal(fresh, committed):
                problems.append(f"stale: images/{name} differs from what tools/make_figures.py draws")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare fresh drawings with images/")
    args = parser.parse_args(argv)
    if args.check:
        problems = differences()
        print("\n".join(problems) or "images/ matches tools/make_figures.py")
        return 1 if problems else 0
    IMAGES.mkdir(exist_ok=True)
    for name in FIGURES:
        (IMAGES / name).write_bytes(render(name))
        print(f"wrote images/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
