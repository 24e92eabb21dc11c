"""ASGI edge concerns shared by both servers: rate limits, body limits, security headers."""
