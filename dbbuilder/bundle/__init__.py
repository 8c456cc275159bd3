"""Bundle writing and signing."""
