"""Scenarios: the typed model of a scenario file, the defect catalogue, and loading.

``model`` is what everything downstream reads; ``loader`` turns YAML into it in three
stages (``yaml_lines``, ``schema_check``, ``build``); ``borrowers`` generates
borrowers' personal data. Imports only ``core``.
"""
