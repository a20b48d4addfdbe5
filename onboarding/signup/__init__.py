"""Organisation sign-up and the console's getting-started checklist."""
