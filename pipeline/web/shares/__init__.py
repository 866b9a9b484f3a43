"""Shares: a track sent to a client as an expiring, download-limited link by email."""
