"""hlog-tui: the Textual terminal UI. The only package that imports textual or rich."""
