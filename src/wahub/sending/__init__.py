"""Sending a message: what a client asks to send (``request.SendRequest``, built by the API and by ``wahub
send``) and its checks and queueing (``service``). The sender (``worker/sender.py``) then sends what is queued."""
