from local.stripe_fake.forms import decode


def test_nested_stripe_parameters_are_rebuilt():
    pairs = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "2500"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][quantity]", "1"),
        ("metadata[ticket_id]", "31"),
        ("expand[]", "payment_intent"),
    ]
    assert decode(pairs) == {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": "2500"}, "quantity": "2"}, {"quantity": "1"}],
        "metadata": {"ticket_id": "31"},
        "expand": ["payment_intent"],
    }
