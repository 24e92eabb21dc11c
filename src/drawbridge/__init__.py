"""Drawbridge."""
