"""Market clearing, curves, the PDE price model and the audit. Pure numpy/scipy."""
