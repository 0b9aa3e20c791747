"""Innovation vouchers (双创券): programmes, grants, ledger, claims and
settlement. Built in its own issue; the order engine never imports it."""
