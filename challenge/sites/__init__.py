"""Evaluation sites (DESIGN section 9): a phase's hidden cases stay with their owner, whose
site worker leases the phase's jobs over HTTP and posts back per-case metrics only."""
