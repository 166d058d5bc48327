"""Tests for the pure routing core."""
