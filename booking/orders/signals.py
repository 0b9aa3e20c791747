"""Order events. The voucher side subscribes to them and moves money inside
the same transaction; the order engine never imports vouchers."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the Booking or ServiceOrder; kwargs: actor (User | None), action (str), now.
order_changed = _signals.signal("order-changed")
