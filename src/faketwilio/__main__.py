"""`python -m faketwilio --port N --inbound-url URL --auth-token T`."""

from faketwilio.server import main

main()
