"""Standard-library and numpy helpers every layer may use: atomic writes, polyline geometry, the one wire type, where the shipped files are."""
