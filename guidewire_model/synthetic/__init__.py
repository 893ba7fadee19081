"""Synthetic coronary X-ray fluoroscopy with two guidewires and pixel-exact ground truth.

No public guidewire data set exists; this generator is the default data source for tests, demos
and first training. See :func:`generate_sequence`.
"""

from guidewire_model.synthetic.config import SyntheticConfig
from guidewire_model.synthetic.generator import SyntheticFrame, generate_frame, generate_sequence, sequence_seed, write_dataset

__all__ = ["SyntheticConfig", "SyntheticFrame", "generate_frame", "generate_sequence", "sequence_seed", "write_dataset"]
