"""Screens of the hlog TUI."""
