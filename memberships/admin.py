from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from bootwebhooks.inbox.admin import ReadOnlyAdmin
from bootwebhooks.inbox.models import WebhookEvent
from bootwebhooks.inbox.permissions import permission
from bootwebhooks.inbox.users import email_field, email_of, parse_pk, search_fields
from bootwebhooks.inbox.words import sentence, when
from bootwebhooks.memberships import person as people
from bootwebhooks.memberships.models import (
    Membership,
    MembershipChange,
    StaffOverride,
    state_change,
)
from bootwebhooks.memberships.services import override_access
from bootwebhooks.memberships.timeline import timeline
from bootwebhooks.payments.admin import event_link
from bootwebhooks.payments.models import StripeCustomer
from bootwebhooks.payments.plans import LIFETIME
from bootwebhooks.payments.search import customer_ids, matching_users

PLANS = [("monthly", "monthly"), ("yearly", "yearly"), (LIFETIME, "lifetime")]


MAX_GRANT_DAYS = 36_500  # a hundred years: further is lifetime


class OverrideForm(forms.Form):
    # Every length and range is checked here, before the database would refuse it.
    reason = forms.CharField(
        max_length=StaffOverride._meta.get_field("reason").max_length,
        widget=forms.TextInput(attrs={"size": 60}),
    )


class GrantForm(OverrideForm):
    days = forms.IntegerField(
        min_value=1,
        max_value=MAX_GRANT_DAYS,
        required=False,
        help_text="From the current end of access, or from today.",
    )
    until = forms.DateTimeField(required=False, help_text="Or an exact end (UTC).")
    plan = forms.ChoiceField(choices=PLANS, required=False, help_text="lifetime: no end")

    def clean_until(self):
        until = self.cleaned_data.get("until")
        if until is not None and not timezone.now() < until < timezone.now() + timedelta(
            days=MAX_GRANT_DAYS
        ):
            raise forms.ValidationError(
                f"Give an end in the next {MAX_GRANT_DAYS:,} days, or choose lifetime."
            )
        return until

    def clean(self):
        data = super().clean()
        if data.get("plan") != LIFETIME and not (data.get("days") or data.get("until")):
            raise forms.ValidationError("Give a number of days, an end date, or lifetime.")
        return data


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["person", "email", "status", "plan_words", "until", "cancel_at_period_end"]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = [
        *search_fields("user"),
        "=subscription_id",
        "=user__bootwebhooks_stripe_customers__customer_id",
    ]
    search_help_text = "Part of an email or login name, a subscription id or a Stripe customer id."
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "status",
        "plan_words",
        "until",
        "subscription_id",
        "cancel_at_period_end",
        "updated",
        "customers",
        "overrides_now",
    ]

    @admin.display(description="person", ordering="user")
    def person(self, obj: Membership) -> str:
        url = reverse("admin:bootwebhooks_person_user", args=[obj.user_id])
        return format_html('<a href="{}">{}</a>', url, obj.user)

    @admin.display(ordering=f"user__{email_field()}")
    def email(self, obj: Membership) -> str:
        return email_of(obj.user)

    @admin.display(description="plan", ordering="plan")
    def plan_words(self, obj: Membership) -> str:
        return people.plan_words(obj.plan) if obj.status != "none" else "-"

    @admin.display(description="access until", ordering="access_until")
    def until(self, obj: Membership) -> str:
        return when(obj.access_until, "no end" if obj.plan == LIFETIME else "-")

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: Membership) -> str:
        return when(obj.updated_at)

    @admin.display(description="Stripe customers")
    def customers(self, obj: Membership) -> str:
        ids = obj.user.bootwebhooks_stripe_customers.values_list("customer_id", flat=True)
        return ", ".join(ids) or "-"

    @admin.display(description="staff override")
    def overrides_now(self, obj: Membership) -> str:
        latest = obj.overrides.select_related("staff").first()
        if latest is None:
            return "-"
        return sentence(
            f"{latest.get_kind_display()} by {latest.staff or 'a deleted user'} on "
            f"{when(latest.at)}: {latest.reason}"
        )

    def has_override_permission(self, request) -> bool:
        return request.user.has_perm(permission(Membership, "change"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        membership = self.get_object(request, object_id)
        context = {**(extra_context or {}), "can_override": self.has_override_permission(request)}
        if membership is not None:
            context["history"] = history(membership)
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("people/", view(self.people_view), name="bootwebhooks_people"),
            path("person/<str:user_id>/", view(self.person_view), name="bootwebhooks_person_user"),
            path("payer/<str:customer_id>/", view(self.payer_view), name="bootwebhooks_person"),
            path(
                "<int:pk>/override/<str:kind>/",
                view(self.override_view),
                name=self.url_name("override"),
            ),
            *super().get_urls(),
        ]

    def override_view(self, request: HttpRequest, pk: int, kind: str) -> HttpResponse:
        """Grant/extend or revoke by hand, with a required reason, audited twice."""
        if not self.has_override_permission(request) or kind not in StaffOverride.Kind.values:
            raise PermissionDenied
        membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
        form_class = GrantForm if kind == StaffOverride.Kind.GRANT else OverrideForm
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            until = self._until(membership, form.cleaned_data)
            plan = form.cleaned_data.get("plan") or ""
            reason = form.cleaned_data["reason"]
            override_access(
                membership.user, kind, staff=request.user, reason=reason, until=until, plan=plan
            )
            membership.refresh_from_db()
            self.log_change(request, membership, sentence(f"Staff {kind}: {reason}"))
            self.message_user(
                request,
                sentence(
                    f"Membership of {membership.user}: now {membership.status}, access until "
                    f"{when(membership.access_until, 'no end')}"
                ),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(_person_url(membership.user_id))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "membership": membership,
            "kind": kind,
            "form": form,
            "cancel_url": _person_url(membership.user_id),
            "title": f"{StaffOverride.Kind(kind).label.capitalize()}: {membership.user}",
        }
        return TemplateResponse(request, self.template("override"), context)

    def _until(self, membership: Membership, data: dict):
        if data.get("plan") == LIFETIME and not (data.get("days") or data.get("until")):
            return None
        if data.get("until"):
            return data["until"]
        start = max(membership.access_until or timezone.now(), timezone.now())
        # An end of access already near year 9999 (a staff grant) leaves no room to extend.
        start = min(start, timezone.now() + timedelta(days=MAX_GRANT_DAYS))
        return start + timedelta(days=data.get("days") or 0)

    # --- people: one page per person, found by a partial email, name or Stripe id ---------
    def people_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        term = request.GET.get("q", "").strip()
        found = find_people(term) if term else ([], [])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "term": term,
            "users": found[0],
            "payers": found[1],
            "limit": PEOPLE_LIMIT,
            "title": "Find a person",
        }
        return TemplateResponse(request, "admin/bootwebhooks_memberships/people.html", context)

    def person_view(self, request: HttpRequest, user_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        pk = parse_pk(user_id)  # any primary key type: an int, a UUID...
        if pk is None:
            raise Http404("No such user.")
        user = get_object_or_404(get_user_model(), pk=pk)
        return self._person_page(request, people.for_user(user))

    def payer_view(self, request: HttpRequest, customer_id: str) -> HttpResponse:
        """The person behind a Stripe customer: its user's page, or the unmatched payer's."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        customer = StripeCustomer.objects.filter(customer_id=customer_id).first()
        if customer is None:  # never recorded: show what the search finds for the id
            return HttpResponseRedirect(reverse("admin:bootwebhooks_people") + f"?q={customer_id}")
        if customer.user_id is not None:
            return HttpResponseRedirect(_person_url(customer.user_id))
        return self._person_page(request, people.for_customer(customer))

    def _person_page(self, request: HttpRequest, person: people.Person) -> HttpResponse:
        link_allowed = request.user.has_perm(permission(Membership, "change"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "person": person,
            "reason": people.why(person),
            "timeline": timeline(person),
            "can_override": self.has_override_permission(request) and person.membership,
            "can_link": link_allowed,
            "title": person.name,
        }
        return TemplateResponse(request, "admin/bootwebhooks_memberships/person.html", context)


PEOPLE_LIMIT = 50


def find_people(term: str) -> tuple[list, list[StripeCustomer]]:
    """Users and unmatched payers a partial, case-insensitive term points to: by email, name
    or username, or by any Stripe id of theirs (cus_, sub_, in_, ch_, pi_, cs_, evt_)."""
    ids = customer_ids(term)
    if term.lower().startswith(("evt_", "cs_")):  # events and Checkout sessions live in events
        ids |= _event_customers(term)
    customers = StripeCustomer.objects.filter(customer_id__in=ids)
    users = matching_users(term) | get_user_model().objects.filter(
        pk__in=customers.exclude(user=None).values("user_id")
    )
    users = list(
        users.select_related("bootwebhooks_membership")
        .distinct()
        .order_by(email_field())[:PEOPLE_LIMIT]
    )
    payers = StripeCustomer.objects.filter(user=None).filter(
        Q(customer_id__in=ids) | Q(email__icontains=term)
    )
    return users, list(payers.order_by("email")[:PEOPLE_LIMIT])


def _event_customers(term: str) -> set[str]:
    events = WebhookEvent.objects.filter(
        Q(stripe_id__icontains=term) | Q(object_id__icontains=term)
    )
    events = events.exclude(customer_id="")
    return set(events.values_list("customer_id", flat=True)[:PEOPLE_LIMIT])


def history(membership: Membership) -> list[dict]:
    """The membership's changes, newest first, in words, each with its cause."""
    changes = membership.changes.select_related("event", "staff").order_by("-at", "-pk")
    return [
        {
            "at": change.at,
            "what": state_change(change.before, change.after),
            "cause": change_cause(change),
        }
        for change in changes
    ]


def change_cause(change: MembershipChange) -> str:
    if change.event_id:
        return format_html("event {} ({})", event_link(change.event), change.event.type)
    if change.staff_id or change.reason:
        who = change.staff.get_username() if change.staff else "a deleted user"
        return format_html("staff member {}: {}", who, change.reason)
    return "-"


def _person_url(user_id: int) -> str:
    return reverse("admin:bootwebhooks_person_user", args=[user_id])
