"""Where the course's code lives (the trusted copy the judge imports and the sandbox sees read-only)."""

from pathlib import Path

CODE_ROOT = Path(__file__).resolve().parents[2]
