"""`python -m wahub` runs the CLI."""

from wahub.cli import main

main()
