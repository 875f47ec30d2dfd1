"""Jupyter widgets for pyicechunk (grown in a later issue)."""
