"""Bounds that the request models check and the domain relies on, in a module of their own so that
the models (the API's input) need not import the domain, which takes them as its commands."""

# An event's seats are spread over at most this many items (payments.domain.lifecycle.seat_shards_for).
MAX_SEAT_SHARDS = 64

# An event's time orders the states of its object (an older event is skipped): one dated far ahead
# would make every genuine later event look older and freeze the object. Later than now by more
# than this (clock skew with room to spare), a provider's event is malformed.
FUTURE_TOLERANCE_SECONDS = 24 * 3600
