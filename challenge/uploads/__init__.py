"""Resumable uploads (tus 1.0.0) of submission and dataset archives from the browser."""
