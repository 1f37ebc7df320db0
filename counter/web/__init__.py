"""HTTP: thin handlers per area, JSON errors, CORS."""
