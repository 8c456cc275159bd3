"""Image archive readers: docker-archive, OCI archive, OCI directory."""
