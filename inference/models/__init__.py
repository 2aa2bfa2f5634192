"""Model definitions of the inference core (the reference LLaVA-style model). Imports no Django."""
