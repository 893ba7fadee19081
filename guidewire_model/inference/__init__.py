"""Running a model over recordings offline (`guidewire-segment`): masks, centrelines and overlays written per sequence."""
