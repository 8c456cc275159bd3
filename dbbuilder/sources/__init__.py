"""Feed readers: OSV, NVD, Debian tracker, Alpine secdb."""
