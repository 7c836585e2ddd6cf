"""Foundations: errors, time, randomness, money and calendars, privacy, names.

The bottom layer: it imports only the standard library and third-party packages.
"""
