"""The vulnerability database: schema, bundle verification, installation, queries.

Import the module you need (`scanner.db.install`, `scanner.db.verify`, ...): the package itself imports
nothing, so reading the schema or the errors does not load verification, zstd and the state directory.
"""
