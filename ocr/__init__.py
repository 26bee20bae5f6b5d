"""Reading one normalised card image: document type and side, QR, MRZ, field OCR, cross-checks."""
