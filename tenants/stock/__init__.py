"""The vaccine catalogue and each venue's stock: lots, movements and the dose counters.

Movements are the truth; the per-venue ``Stock`` counters (``on_hand``, ``promised``)
and per-lot ``Lot.on_hand`` are kept in step by the ledger services and rebuilt from
the rows by ``tenants.booking.recount.recount_stock``.
"""
