"""Scans in: loading files, finding and straightening cards, pairing sides, the merged PDF."""
