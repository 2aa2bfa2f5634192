"""Consultation: questions about a study's image (VQA) and critical-result notifications."""
