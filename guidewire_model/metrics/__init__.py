"""Scores against ground truth: pixel precision, recall, F1 and F1@2 (`pixels`); centreline distance, tip error and identity switches (`wires`)."""
