"""Termshift's shell: settings, the Temporal connection and the embedded stack."""
