"""Therapist accounts: signing in and out (passwords hashed with Argon2, failures throttled)."""
