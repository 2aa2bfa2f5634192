"""Why the model said what it said: attributions, boxes, overlays. Imports no Django."""
