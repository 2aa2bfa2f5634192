"""AI results as DICOM objects (highdicom): a TID 1500 measurement report per AI draft, a
presentation state per heatmap, and a Basic Text SR of the signed report."""
