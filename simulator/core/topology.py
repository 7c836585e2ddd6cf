"""Who is in a world and which one-way links join them: the names every layer shares.

A **party** is one simulated organisation; a **link** is a one-way channel
from a caller to a target that every call between parties crosses (and that
faults can break). Names are part of the scenario format (README, "Scenario
reference").
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["LINKS", "PARTIES", "ROLES", "LinkEnds"]

#: The parties of a world, in the order reports list them.
PARTIES: tuple[str, ...] = ("bank", "platform", "bureau", "sms")

#: The roles a user's own system may play (README, "Test your own bank or platform").
ROLES: tuple[str, ...] = ("bank", "platform")


class LinkEnds(NamedTuple):
    """Who calls across a link, and who answers."""

    caller: str
    target: str


#: Every link by name. ``borrower`` is not a party: borrowers act through the world.
#: ``recon`` carries the platform's daily reconciliation file; ``bureau->bank`` the
#: bureau's dispute verification, which it must do with the furnisher.
LINKS: dict[str, LinkEnds] = {
    "borrower->platform": LinkEnds("borrower", "platform"),
    "platform->bank": LinkEnds("platform", "bank"),
    "bank->platform": LinkEnds("bank", "platform"),
    "recon": LinkEnds("platform", "bank"),
    "bank->bureau": LinkEnds("bank", "bureau"),
    "bureau->bank": LinkEnds("bureau", "bank"),
    "bank->sms": LinkEnds("bank", "sms"),
    "platform->sms": LinkEnds("platform", "sms"),
}
