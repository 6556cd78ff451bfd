"""Workflows: thin, linear scripts that wire components together. One per CLI verb."""
