"""The engine under every world: the journal (the single record) and the links (every call
between parties crosses one, and faults break them). Imports only ``core``; knows nothing
of loans.
"""
