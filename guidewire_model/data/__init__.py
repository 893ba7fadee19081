"""Data sets on disk: the layout the generator and importers write, image files, plain folders of frames and masks."""
