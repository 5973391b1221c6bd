"""Maintainer tools for the course: dataset generator, fixtures, release, course runner."""
