"""What payments tells the apps built on it, without importing them.

`customer_linked` is sent inside the linking transaction, after staff linked a Stripe customer
to a user and moved its facts: `customer` (the StripeCustomer), `previous_user_id` (its owner
before, or None) and `by` (the staff user). The memberships app re-derives both users' access
from it.
"""

from django.dispatch import Signal

customer_linked = Signal()
