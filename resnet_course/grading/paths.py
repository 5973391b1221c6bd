"""Where the course's code lives (the trusted copy the judge imports and the sandbox sees read-only)."""

from resnet_course.paths import PACKAGE

CODE_ROOT = PACKAGE.parent  # the facades sit beside the package, in a checkout and in site-packages alike
