"""Catalogers: turn image files into Package records."""
