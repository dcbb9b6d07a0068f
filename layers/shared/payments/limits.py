"""Bounds that the request models check and the domain relies on, in a module of their own so that
the models (the API's input) need not import the domain, which takes them as its commands."""

# An event's seats are spread over at most this many items (payments.domain.lifecycle.seat_shards_for).
MAX_SEAT_SHARDS = 64
