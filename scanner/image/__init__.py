"""Image archive readers: docker-archive, OCI archive, OCI directory.

`open_image` reads an image file or directory with nothing but the file: no daemon, no registry.
"""

from scanner.image.limits import Limits
from scanner.image.metadata import ImageMetadata, LayerInfo
from scanner.image.reader import Image, open_image

__all__ = ["Image", "ImageMetadata", "LayerInfo", "Limits", "open_image"]
