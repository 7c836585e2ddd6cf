"""The payment network: money between borrowers and the parties, as it really moves.

The world owns it; no party feeds it a value it chose. Money **leaves** a
borrower when a party accepts the borrower's payment — the platform answers the
app's ``repay`` with success, or the bank's counter takes it — and the world sees
that answer for itself (also when the borrower never receives it). What left is
the amount the borrower sent, at the world's instant; the party's answer only
names the payment (its ``payment_id``, by which postings are matched). Money
**comes back** when a party gives it back through :meth:`give_back` (a refund,
a surplus); that is a real movement, recorded as asked.

Every movement is journaled (``money.taken``, ``money.returned``) and reported
to the oracle and to the borrowers' own ledgers. A party may give back part of a
payment while it takes it — the surplus of a payment at the bank's counter — before
the world knows the payment's name from the answer: the world calls it
:meth:`holding` returns, and they are made once the payment is recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from simulator.checks.oracle import GivenBack, Oracle, Payment
from simulator.core.clock import Clock
from simulator.engine.journal import Journal

__all__ = ["PaymentNetwork"]


class PaymentNetwork:
    """The world's record of money taken from and given back to borrowers."""

    def __init__(self, clock: Clock, journal: Journal, oracle: Oracle) -> None:
        self._clock = clock
        self._journal = journal
        self._oracle = oracle
        self._references = 0
        self.payments: dict[str, Payment] = {}
        self.returns: list[GivenBack] = []
        self._returned: dict[str, int] = {}
        #: payment ids a party answered for two different borrower payments
        self.reused_ids: list[str] = []
        #: who else hears of each movement (the borrowers' ledgers)
        self.listeners: list[Callable[[Payment | GivenBack], None]] = []
        #: returns asked for while :meth:`holding`, made when it ends
        self._held: list[tuple[str, int, str]] | None = None

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Returns asked for within the block are made at its end (the same instant), after
        the payment they belong to is recorded."""
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            for payment_id, amount, by in held:
                self.give_back(payment_id, amount, by=by)

    def taken(self, borrower: str, loan_id: str, amount: int, *, via: str,
              payment_id: object) -> Payment:
        """A party accepted ``borrower``'s payment of ``amount`` for ``loan_id`` now.

        ``payment_id`` is whatever the party's answer named it; a missing, malformed or
        reused id is recorded as such (and every posting will then fail to match it).
        """
        self._references += 1
        reference = f"NET{self._references:08d}"
        name = payment_id if isinstance(payment_id, str) and payment_id else \
            f"{reference}?unnamed"
        if name in self.payments:
            self.reused_ids.append(name)
            name = f"{name}?again-{reference}"
        payment = Payment(name, borrower, loan_id, amount, self._clock.now, reference, via)
        self.payments[name] = payment
        self._journal.append("money.taken", "network", payment_id=name, borrower=borrower,
                             loan_id=loan_id, amount=amount, via=via, reference=reference)
        self._oracle.capture(payment)
        for listener in self.listeners:
            listener(payment)
        return payment

    def give_back(self, payment_id: str, amount: int, *, by: str) -> None:
        """A party returns ``amount`` of ``payment_id`` to the borrower who paid it."""
        if self._held is not None:
            self._held.append((payment_id, amount, by))
            return
        known = payment_id in self.payments
        returned = GivenBack(payment_id, amount, by, self._clock.now, known)
        self.returns.append(returned)
        self._returned[payment_id] = self._returned.get(payment_id, 0) + amount
        self._journal.append("money.returned", "network", payment_id=payment_id,
                             amount=amount, by=by, known=known)
        if known:
            self._oracle.refund(payment_id, amount)
            for listener in self.listeners:
                listener(returned)

    def returned(self, payment_id: str) -> int:
        """How much of ``payment_id`` has come back to its borrower."""
        return self._returned.get(payment_id, 0)
