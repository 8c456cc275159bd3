"""airgap-scanner: offline vulnerability scanning of container image archives."""

__version__ = "0.1.0"
