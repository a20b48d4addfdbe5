"""What a live tenant runs: campaigns, stock, booking, vouchers, check-in, reports, billing."""
