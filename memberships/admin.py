from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from bootwebhooks.inbox.admin import ReadOnlyAdmin
from bootwebhooks.inbox.permissions import permission
from bootwebhooks.memberships.models import Membership, MembershipChange, StaffOverride
from bootwebhooks.memberships.services import override_access
from bootwebhooks.payments.admin import event_link
from bootwebhooks.payments.plans import LIFETIME

PLANS = [("monthly", "monthly"), ("yearly", "yearly"), (LIFETIME, "lifetime")]


class MembershipChangeInline(admin.TabularInline):
    model = MembershipChange
    extra = 0
    can_delete = False
    fields = ["at", "status_change", "until_change", "caused_by", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-pk"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event", "staff")

    @admin.display(description="status")
    def status_change(self, obj: MembershipChange) -> str:
        return f"{obj.before.get('status')} → {obj.after.get('status')}"

    @admin.display(description="access until")
    def until_change(self, obj: MembershipChange) -> str:
        return f"{obj.before.get('access_until') or '-'} → {obj.after.get('access_until') or '-'}"

    @admin.display(description="caused by")
    def caused_by(self, obj: MembershipChange) -> str:
        if obj.event_id:
            return event_link(obj.event)
        return format_html("staff: {}", obj.staff or "deleted user") if obj.staff_id else "-"


class OverrideForm(forms.Form):
    reason = forms.CharField(widget=forms.TextInput(attrs={"size": 60}))


class GrantForm(OverrideForm):
    days = forms.IntegerField(
        min_value=1, required=False, help_text="From the current end of access, or from today."
    )
    until = forms.DateTimeField(required=False, help_text="Or an exact end (UTC).")
    plan = forms.ChoiceField(choices=PLANS, required=False, help_text="lifetime: no end")

    def clean(self):
        data = super().clean()
        if data.get("plan") != LIFETIME and not (data.get("days") or data.get("until")):
            raise forms.ValidationError("Give a number of days, an end date, or lifetime.")
        return data


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "email", "status", "plan", "access_until", "cancel_at_period_end"]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = [
        "user__email",
        "=user__username",
        "=subscription_id",
        "=user__stripe_customers__customer_id",
    ]
    search_help_text = "Email, username, subscription id or Stripe customer id."
    list_select_related = ["user"]
    inlines = [MembershipChangeInline]
    readonly_fields = [
        "user",
        "status",
        "plan",
        "access_until",
        "subscription_id",
        "cancel_at_period_end",
        "updated_at",
        "customers",
        "overrides_now",
    ]

    @admin.display(ordering="user__email")
    def email(self, obj: Membership) -> str:
        return obj.user.email

    @admin.display(description="Stripe customers")
    def customers(self, obj: Membership) -> str:
        ids = obj.user.stripe_customers.values_list("customer_id", flat=True)
        return ", ".join(ids) or "-"

    @admin.display(description="staff override")
    def overrides_now(self, obj: Membership) -> str:
        latest = obj.overrides.first()
        return str(latest) if latest else "-"

    def has_override_permission(self, request) -> bool:
        return request.user.has_perm(permission(Membership, "change"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**(extra_context or {}), "can_override": self.has_override_permission(request)}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
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
            self.log_change(request, membership, f"Staff {kind}: {reason}")
            self.message_user(
                request,
                f"{membership.user}: now {membership.status} until "
                f"{membership.access_until or 'forever'}",
                messages.SUCCESS,
            )
            url = reverse(admin_urlname(Membership._meta, "change"), args=[membership.pk])
            return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "membership": membership,
            "kind": kind,
            "form": form,
            "title": f"{StaffOverride.Kind(kind).label.capitalize()}: {membership.user}",
        }
        return TemplateResponse(request, self.template("override"), context)

    def _until(self, membership: Membership, data: dict):
        if data.get("plan") == LIFETIME and not (data.get("days") or data.get("until")):
            return None
        if data.get("until"):
            return data["until"]
        start = max(membership.access_until or timezone.now(), timezone.now())
        return start + timedelta(days=data.get("days") or 0)
