"""Version ordering per ecosystem and OSV range evaluation."""
