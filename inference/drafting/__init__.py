"""Report drafting from findings: the retrieval drafter and its recommendation rules.

Imports no Django. The sentence encoder loads lazily (:func:`encoder.load_minilm`).
"""
