from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from bootwebhooks.inbox.admin import ReadOnlyAdmin, person_link
from bootwebhooks.inbox.permissions import permission
from bootwebhooks.inbox.users import find_user, search_fields
from bootwebhooks.inbox.words import money, when
from bootwebhooks.payments import plans
from bootwebhooks.payments.customers import link
from bootwebhooks.payments.models import Charge, Payment, Price, StripeCustomer, Subscription
from bootwebhooks.payments.plans import Product


class CustomerColumn:
    @admin.display(description="customer", ordering="customer_id")
    def person(self, obj: Payment | Subscription) -> str:
        """The row's Stripe customer, linked to the page of the person behind it."""
        return person_link(obj.customer_id, "")


def event_link(event) -> str:
    if event is None:
        return "-"
    url = reverse(admin_urlname(event._meta, "change"), args=[event.pk])
    return format_html('<a href="{}">{}</a>', url, event.stripe_id)


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("yes", "needs review (unknown price or dispute status)")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(pk__in=Payment.needing_review().values("pk"))
        return queryset


def product_display(obj: "Payment | Subscription") -> str:
    """The plan, or why there is none ("not a membership product", "unknown price: ...")."""
    return obj.plan if obj.product == Product.MEMBERSHIP and obj.plan else obj.get_product_display()


@admin.register(Payment)
class PaymentAdmin(CustomerColumn, ReadOnlyAdmin):
    list_display = [
        "stripe_id",
        "kind",
        "status",
        "amount_display",
        "person",
        "user",
        "membership_plan",
        "dispute",
        "pays_until",
        "event",
        "updated",
    ]
    list_filter = [
        NeedsReviewFilter,
        "status",
        "kind",
        "product",
        "dispute",
        ("updated_at", admin.DateFieldListFilter),
        "period_end",
    ]
    search_fields = ["stripe_id", "customer_id", "payment_intent_id", *search_fields("user")]
    list_select_related = ["user", "last_event"]
    ordering = ["-updated_at"]

    @admin.display(description="plan", ordering="plan")
    def membership_plan(self, obj: Payment) -> str:
        return product_display(obj)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return money(obj.amount, obj.currency)

    @admin.display(description="pays until", ordering="period_end")
    def pays_until(self, obj: Payment) -> str:
        return when(obj.period_end)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: Payment) -> str:
        return when(obj.updated_at)

    @admin.display(description="last event")
    def event(self, obj: Payment) -> str:
        return event_link(obj.last_event)


@admin.register(Subscription)
class SubscriptionAdmin(CustomerColumn, ReadOnlyAdmin):
    list_display = [
        "subscription_id",
        "status",
        "membership_plan",
        "person",
        "user",
        "period_end",
        "cancel_at_period_end",
        "event",
    ]
    list_filter = ["status", "plan", "product", "cancel_at_period_end"]
    search_fields = ["subscription_id", "customer_id", *search_fields("user")]
    list_select_related = ["user", "last_event"]

    @admin.display(description="plan", ordering="plan")
    def membership_plan(self, obj: Subscription) -> str:
        return product_display(obj)

    @admin.display(description="current period end", ordering="current_period_end")
    def period_end(self, obj: Subscription) -> str:
        return when(obj.current_period_end)

    @admin.display(description="last event")
    def event(self, obj: Subscription) -> str:
        return event_link(obj.last_event)


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = [
        "charge_id",
        "customer_id",
        "amount_refunded",
        "refunded",
        "dispute",
        "dispute_status",
    ]
    list_filter = ["refunded", "dispute"]
    search_fields = ["charge_id", "customer_id", "payment_intent_id"]


@admin.register(Price)
class PriceAdmin(ReadOnlyAdmin):
    list_display = [
        "price_id",
        "product_id",
        "lookup_key",
        "nickname",
        "interval",
        "membership_plan",
        "active",
        "deleted_at",
        "snapshot_at",
    ]
    list_filter = ["active", "interval"]
    search_fields = ["=price_id", "=product_id", "=lookup_key"]
    ordering = ["product_id", "price_id"]

    @admin.display(description="plan")
    def membership_plan(self, obj: Price) -> str:
        plan = plans.plan_for_price(plans.PriceFacts(obj.price_id, obj.product_id, obj.lookup_key))
        return plan or Product.OTHER.label


class UnmatchedFilter(admin.SimpleListFilter):
    title = "matched"
    parameter_name = "unmatched"

    def lookups(self, request, model_admin):
        return [("yes", "unmatched payments")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(user__isnull=True, has_unmatched=True)
        return queryset


class LinkForm(forms.Form):
    user = forms.CharField(label="User (login name, email or id)", max_length=254)
    reason = forms.CharField(
        label="Reason", max_length=255, widget=forms.TextInput(attrs={"size": 60})
    )

    def clean_user(self):
        found = find_user(self.cleaned_data["user"])
        if found is None:
            raise forms.ValidationError("No single user has that login name, email or id.")
        return found


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["customer_id", "email", "user", "unmatched", "linked", "linked_by"]
    list_filter = [UnmatchedFilter]
    search_fields = ["customer_id", "email", *search_fields("user")]
    list_select_related = ["user", "linked_by"]

    def get_queryset(self, request):
        waiting = Payment.objects.filter(customer_id=OuterRef("customer_id"), user__isnull=True)
        return super().get_queryset(request).annotate(has_unmatched=Exists(waiting))

    @admin.display(description="linked", ordering="linked_at")
    def linked(self, obj: StripeCustomer) -> str:
        return when(obj.linked_at)

    @admin.display(boolean=True, description="unmatched payments")
    def unmatched(self, obj: StripeCustomer) -> bool:
        return obj.has_unmatched

    def has_link_permission(self, request) -> bool:
        return request.user.has_perm(permission(StripeCustomer, "change"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**(extra_context or {}), "can_link": self.has_link_permission(request)}
        customer = self.get_object(request, object_id)
        if customer is not None:
            context["payments"] = _payments_of(customer)
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        view = self.admin_site.admin_view(self.link_view)
        return [
            path("<int:pk>/link/", view, name=self.url_name("link")),
            *super().get_urls(),
        ]

    def link_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Link the customer to a user: the grants that waited as unmatched apply now."""
        if not self.has_link_permission(request):
            raise PermissionDenied
        customer = get_object_or_404(StripeCustomer, pk=pk)
        form = LinkForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            user, reason = form.cleaned_data["user"], form.cleaned_data["reason"]
            link(customer.customer_id, user, request.user)
            self.log_change(request, customer, f"Linked to {user}: {reason}")
            self.message_user(
                request,
                f"Stripe customer {customer.customer_id} linked to {user}; their facts are "
                "theirs now.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(_change_url(customer))
        payments = _payments_of(customer)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "customer": customer,
            "payments": payments,
            "form": form,
            "cancel_url": _change_url(customer),
            "title": f"Link {customer.customer_id} to a user",
        }
        return TemplateResponse(request, self.template("link"), context)


def _change_url(customer: StripeCustomer) -> str:
    return reverse(admin_urlname(StripeCustomer._meta, "change"), args=[customer.pk])


def _payments_of(customer: StripeCustomer) -> list[Payment]:
    payments = Payment.objects.filter(customer_id=customer.customer_id).select_related("user")
    return list(payments.order_by("-pk")[:50])
