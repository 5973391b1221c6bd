"""The course's Python package (grading tools; see resnet_course/grading/)."""
