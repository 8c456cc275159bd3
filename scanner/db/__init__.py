"""The vulnerability database: schema, bundle verification, installation, queries."""
