"""Report formats: one module per format, plugged into a registry."""
