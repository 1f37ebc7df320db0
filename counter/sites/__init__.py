"""Sites: each portal's configuration, and its imported base counts."""
