"""The payment network: money between borrowers and the parties, as it really moves.

The world owns it; no party feeds it a value it chose. Money **leaves** a
borrower when a party accepts the borrower's payment — the platform answers the
app's ``repay`` with success, or the bank's counter takes it — and the world sees
that answer for itself (also when the borrower never receives it). What left is
the amount the borrower sent, at the world's instant; the party's answer only
names the payment (its ``payment_id``, by which postings are matched). Money
**comes back** when a party gives it back through :meth:`give_back` (a refund,
a surplus); that is a real movement, recorded as asked.

A payment the world sees being handed over — a borrower at the bank's counter —
is one operation: :meth:`handing_over` opens it before the party is asked, with
the amount and the instant the borrower hands over; the party's answer only
names the payment (:meth:`HandOver.taken`). Money the party gives back inside
that operation under a payment id nobody has paid yet (the surplus of the very
payment it is taking) is held until the operation ends, then recorded as asked —
under the payment the answer named when the ids agree, as money returned for no
payment when they do not or when the party took nothing.

Every movement is journaled (``money.taken``, ``money.returned``) and reported
to the oracle and to the borrowers' own ledgers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from simulator.checks.oracle import GivenBack, Oracle, Payment
from simulator.core.clock import Clock
from simulator.engine.journal import Journal

__all__ = ["HandOver", "PaymentNetwork"]


class HandOver:
    """A borrower handing ``amount`` for ``loan_id`` to the party ``via``, at ``at``."""

    def __init__(self, network: PaymentNetwork, borrower: str, loan_id: str, amount: int,
                 via: str, at: datetime) -> None:
        self._network = network
        self.borrower, self.loan_id, self.amount, self.via, self.at = \
            borrower, loan_id, amount, via, at
        #: the payment, once the party took the money
        self.payment: Payment | None = None
        #: money the party gave back inside the operation, under ids nobody had paid yet
        self.held: list[tuple[str, int]] = []

    def taken(self, payment_id: object) -> Payment:
        """The party took the money; its answer names the payment ``payment_id``."""
        if self.payment is None:
            self.payment = self._network.taken(
                self.borrower, self.loan_id, self.amount, via=self.via,
                payment_id=payment_id, at=self.at)
        return self.payment


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
        self._handing: HandOver | None = None

    @contextmanager
    def handing_over(self, borrower: str, loan_id: str, amount: int, *,
                     via: str) -> Iterator[HandOver]:
        """``borrower`` hands ``amount`` for ``loan_id`` to ``via`` now, in one operation:
        call :meth:`HandOver.taken` inside it if the party took the money."""
        hand = HandOver(self, borrower, loan_id, amount, via, self._clock.now)
        outer, self._handing = self._handing, hand
        try:
            yield hand
        finally:
            self._handing = outer
            for payment_id, returned in hand.held:
                self.give_back(payment_id, returned, by=via)

    def taken(self, borrower: str, loan_id: str, amount: int, *, via: str,
              payment_id: object, at: datetime | None = None) -> Payment:
        """A party accepted ``borrower``'s payment of ``amount`` for ``loan_id`` at ``at``
        (default now).

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
        payment = Payment(name, borrower, loan_id, amount,
                          self._clock.now if at is None else at, reference, via)
        self.payments[name] = payment
        self._journal.append("money.taken", "network", payment_id=name, borrower=borrower,
                             loan_id=loan_id, amount=amount, via=via, reference=reference)
        self._oracle.capture(payment)
        for listener in self.listeners:
            listener(payment)
        return payment

    def give_back(self, payment_id: str, amount: int, *, by: str) -> None:
        """A party returns ``amount`` of ``payment_id`` to the borrower who paid it."""
        known = payment_id in self.payments
        handing = self._handing
        if not known and handing is not None and by == handing.via:
            handing.held.append((payment_id, amount))  # recorded when the operation ends
            return
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
