"""Widgets of the hlog TUI."""
