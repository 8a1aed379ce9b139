"""`python -m fakegraph --port N --callback URL --app-secret S`."""

from fakegraph.server import main

main()
