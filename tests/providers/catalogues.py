"""Catalogue groups the built-in catalogue does not sell, for adapter tests that need them."""

# Rome's landlines: Italian numbers keep the 0 of their area code after +39 (+39 06 ...),
# where France's 0 is a trunk prefix that a number drops.
ROME = {
    "group_id": "it-local-06",
    "country": "IT",
    "number_type": "local",
    "region": "ROMA, ITALY",
    "prefix": "06",
    "stock": 50,
    "setup": "0.00",
    "monthly": "1.00",
    "currency": "USD",
    "capabilities": ["voice", "sms"],
}
