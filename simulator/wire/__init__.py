"""The wire: the OpenAPI contracts in ``contracts/`` compiled into validators, and request
signing. Imports only ``core``.
"""
