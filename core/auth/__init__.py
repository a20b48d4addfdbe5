"""Users signing in: passwords, email verification, two-factor, sessions, throttling."""
