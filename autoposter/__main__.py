"""``python -m autoposter`` is the ``autoposter`` command."""

from autoposter.cli import main

# Guarded: parser worker processes import the main module again, and must not run the CLI.
if __name__ == "__main__":
    main()
