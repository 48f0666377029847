"""`python -m hlog` is `hlog`."""

from hlog.backend.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
