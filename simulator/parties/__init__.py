"""The reference parties: bank, platform, bureau and SMS gateway.

Each is a real program over its own SQLite database (``base``), with real crashes.
They import ``core``, ``scenarios`` and ``engine``; never the checks (the truth), the
world, or anything above it.
"""
