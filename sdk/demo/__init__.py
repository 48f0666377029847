"""A small shop made of real services instrumented with the SDK, and the traffic that plays its users."""
