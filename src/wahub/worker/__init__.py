"""DRIVE: the processor (events -> store), the sender (outbox -> provider), and the policies they follow."""
