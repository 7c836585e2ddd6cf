"""Exploring random worlds: generation, swarm faults, shrinking, campaigns (README, "Explore").

The layer above the world: it generates scenarios from a seed, runs them, and shrinks a
world that violates an invariant to a minimal scenario file.
"""
