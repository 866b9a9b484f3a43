"""The recording studio: a therapist records a script in their own voice in the browser,
segment by segment or in one take, and builds the track from their takes."""
