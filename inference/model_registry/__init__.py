"""The model registry: every model version (name, path, weights checksum, evaluation
metrics) in the database, and which one serves. A Django app (label ``inference``) at the
edge of the Django-free ``inference`` core."""
