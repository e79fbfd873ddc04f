"""Benchmark adapters (one per simulator) and the batch that steps them."""
