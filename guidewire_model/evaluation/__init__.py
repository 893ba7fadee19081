"""Evaluation and benchmarks: `guidewire-eval`, the Frangi reference row, bags and their reports, latency and memory benchmarks, the offline demo."""
