"""``python -m spacecoop``; guarded because query workers re-import the main module."""

if __name__ == "__main__":
    from spacecoop.cli import main

    raise SystemExit(main())
