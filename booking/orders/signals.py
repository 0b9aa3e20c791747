"""Order events. The voucher side subscribes to them and moves money inside
the same transaction; the order engine never imports vouchers."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the Booking or ServiceOrder; kwargs: actor (User | None), action (str),
# now, and for action "place" also payment (str: the key of the payment option
# the firm chose on the quote page, "" for paying everything itself). A
# receiver that refuses raises DomainError; the caller rolls everything back.
order_changed = _signals.signal("order-changed")

# sender: a `booking.orders.payment.OrderDraft`; kwargs: user, now. Receivers
# return a list of `PaymentOption` (see booking.orders.payment).
payment_options = _signals.signal("payment-options")

# sender: a Booking or ServiceOrder; kwargs: none. Receivers return a list of
# `PaymentLine` describing how the order is paid (shown on its detail pages).
payment_summary = _signals.signal("payment-summary")
