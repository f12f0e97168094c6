"""Run inside the generated host site (`manage.py shell < verify_site.py`): the signup made
the user a member, and the admin's event and membership pages and their search answer 200."""

import sys

from django.contrib.auth import get_user_model
from django.test import Client

from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.memberships import is_member

User = get_user_model()
student = User.objects.get(email="student@example.com")
assert is_member(student), "the signed signup did not make the student a member"
assert student.membership == "", "the host's own field was touched"

event = WebhookEvent.objects.get(type="checkout.session.completed")
staff = User.objects.create_superuser("staff@example.com", "x")
client = Client(HTTP_HOST="localhost")
client.force_login(staff)
pages = {
    "/admin/": "Overview",
    "/admin/bootwebhooks_inbox/webhookevent/": event.stripe_id,
    f"/admin/bootwebhooks_inbox/webhookevent/?q={event.stripe_id}": event.stripe_id,
    f"/admin/bootwebhooks_inbox/webhookevent/{event.pk}/change/": event.stripe_id,
    "/admin/bootwebhooks_memberships/membership/": "student@example.com",
    "/admin/bootwebhooks_memberships/membership/?q=student@example.com": "student@example.com",
    "/admin/bootwebhooks_payments/stripecustomer/?q=student@example.com": "student@example.com",
    f"/api/memberships/{student.pk}/": '"is_member":true',
}
failed = []
for url, expected in pages.items():
    response = client.get(url)
    text = response.content.decode()
    ok = response.status_code == 200 and expected in text
    print(f"{response.status_code} {'ok ' if ok else 'BAD'} {url}")
    if not ok:
        failed.append(url)
# Installed without extras: no prometheus-client, so /metrics says so; the rest works.
for url, code in (("/healthz", 200), ("/metrics", 404)):
    got = Client(HTTP_HOST="localhost").get(url).status_code
    print(f"{got} {url} ({code} expected)")
    if got != code:
        failed.append(url)
anonymous = Client(HTTP_HOST="localhost").get(f"/api/memberships/{student.pk}/")
print(f"{anonymous.status_code} anonymous /api/memberships/<uuid>/ (401 expected)")
if anonymous.status_code != 401:
    failed.append("anonymous API")
sys.exit(1 if failed else 0)
