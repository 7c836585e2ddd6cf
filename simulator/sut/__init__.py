"""Systems under test: a user's own bank or platform in a world (README, "Test your own bank
or platform")."""
