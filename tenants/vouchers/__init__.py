"""E-vouchers: the readable code and signed QR token of a booking, the public voucher
and manage-booking pages, and the emails that carry them (issue 5)."""
