"""The Flask application and the motcua command line."""
