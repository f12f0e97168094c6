import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from bootwebhooks.inbox.dispatch import caused_by, dispatch, preview
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.permissions import permission
from bootwebhooks.inbox.registry import registry

STATUS_COLOURS = {
    "pending": "#b26a00",
    "processed": "#2e7d32",
    "failed": "#c62828",
    "ignored": "#616161",
    "superseded": "#5c6bc0",
}
RESOLVE_OUTCOMES = {"processed": Attempt.Outcome.PROCESSED, "ignored": Attempt.Outcome.IGNORED}


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows, so a page of a million-row table never runs a full COUNT(*)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.CAP].count()


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that change only through events and explicit staff actions, never a change form;
    and lists that never count a whole big table."""

    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def url_name(self, action: str) -> str:
        """An action page's URL name, `<label>_<model>_<action>`, as the admin names its own."""
        return f"{self.opts.app_label}_{self.opts.model_name}_{action}"

    def template(self, name: str) -> str:
        """An action page's template, found under the app's label like the admin's own."""
        return f"admin/{self.opts.app_label}/{self.opts.model_name}/{name}.html"


class HandledTypeFilter(admin.SimpleListFilter):
    """The types we handle, from the registry: no SELECT DISTINCT over the whole table."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [(t, t) for t in registry.event_types()]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_id",
        "type",
        "coloured_status",
        "object_id",
        "customer",
        "stripe_created",
        "received_at",
        "delivery_count",
        "attempt_count",
    ]
    list_filter = [
        "status",
        HandledTypeFilter,
        "livemode",
        ("received_at", admin.DateFieldListFilter),
        ("stripe_created", admin.DateFieldListFilter),
    ]
    search_fields = ["stripe_id"]  # the real search is get_search_results
    search_help_text = "Exact event id, object id, customer id or customer email."
    ordering = ["-received_at"]
    list_per_page = 50
    actions = ["retry_selected", "mark_selected_processed", "mark_selected_ignored"]
    exclude = ["body", "headers"]

    # --- list ---------------------------------------------------------------------------
    @admin.display(description="status", ordering="status")
    def coloured_status(self, obj: WebhookEvent) -> SafeString:
        colour = STATUS_COLOURS.get(obj.status, "#000")
        if obj.ignored_reason:
            return format_html(
                '<b style="color:{}">{}</b><br><small>{}</small>',
                colour,
                obj.status,
                obj.ignored_reason,
            )
        return format_html('<b style="color:{}">{}</b>', colour, obj.status)

    @admin.display(description="customer")
    def customer(self, obj: WebhookEvent) -> str:
        return " ".join(filter(None, [obj.customer_id, obj.customer_email]))

    def get_search_results(self, request, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(stripe_id=term) | Q(object_id=term) | Q(customer_id=term)
        match |= Q(customer_email=term.lower())
        return queryset.filter(match), False

    # --- permissions (events change only through retry and resolve) ----------------------
    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(permission(WebhookEvent, "retry"))

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm(permission(WebhookEvent, "resolve"))

    # --- detail ---------------------------------------------------------------------------
    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [f.name for f in WebhookEvent._meta.fields if f.name not in self.exclude]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, object_id)
        if event is None:  # let the admin answer for an unknown or malformed id
            return super().change_view(request, object_id, form_url, extra_context)
        context = {
            **(extra_context or {}),
            "payload_tree": payload_tree(event.data),
            "changes": changes(event.object, event.previous_attributes),
            "headers": sorted(event.headers.items()),
            "attempts": event.attempts.select_related("user"),
            "caused": [(obj._meta.verbose_name, obj, _admin_link(obj)) for obj in caused_by(event)],
            "can_retry": self.has_retry_permission(request) and event.status not in event.FINAL,
            "can_resolve": self.has_resolve_permission(request),
        }
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/retry/", view(self.retry_view), name=self.url_name("retry")),
            path(
                "<int:pk>/mark/<str:outcome>/",
                view(self.resolve_view),
                name=self.url_name("resolve"),
            ),
            *super().get_urls(),
        ]

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: what a retry would change (run and rolled back). POST: retry it."""
        if not self.has_retry_permission(request):
            raise PermissionDenied
        event = get_object_or_404(WebhookEvent, pk=pk)
        if request.method == "POST":
            note = request.POST.get("note", "").strip()
            done = dispatch(event.pk, trigger=Attempt.Trigger.STAFF, user=request.user, note=note)
            self.log_change(request, done, f"Retried: {done.status}. {note}".strip())
            level = messages.ERROR if done.status == "failed" else messages.SUCCESS
            self.message_user(request, f"{done.stripe_id} retried: {done.status}", level)
            return HttpResponseRedirect(_change_url(done))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "event": event,
            "preview": preview(event.pk),
            "title": f"Retry {event.stripe_id}?",
        }
        return TemplateResponse(request, self.template("retry"), context)

    def resolve_view(self, request: HttpRequest, pk: int, outcome: str) -> HttpResponse:
        """Mark one event processed or ignored, with a required note."""
        if not self.has_resolve_permission(request) or outcome not in RESOLVE_OUTCOMES:
            raise PermissionDenied
        event = get_object_or_404(WebhookEvent, pk=pk)
        error = ""
        if request.method == "POST":
            note = request.POST.get("note", "").strip()
            if note:
                self._resolve(request, event, RESOLVE_OUTCOMES[outcome], note)
                self.message_user(request, f"{event.stripe_id} marked {outcome}", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(event))
            error = "A note is required: say why, for whoever looks next."
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "events": [event],
            "outcome": outcome,
            "error": error,
            "title": f"Mark {event.stripe_id} {outcome}?",
        }
        return TemplateResponse(request, self.template("confirm"), context)

    def _resolve(self, request, event: WebhookEvent, outcome: str, note: str) -> None:
        WebhookEvent.resolve(event.pk, outcome, user=request.user, note=note)
        self.log_change(request, event, f"Marked {outcome}: {note}")

    # --- bulk actions (each shows a confirmation page with the count first) ----------------
    @admin.action(permissions=["retry"], description="Retry selected events")
    def retry_selected(self, request, queryset):
        confirmed = self._confirm(request, queryset, "retry_selected", "retry", note=False)
        if not isinstance(confirmed, str):
            return confirmed
        results = [
            dispatch(pk, trigger=Attempt.Trigger.STAFF, user=request.user)
            for pk in queryset.exclude(status__in=WebhookEvent.FINAL).values_list("pk", flat=True)
        ]
        for event in results:
            self.log_change(request, event, f"Retried: {event.status}")
        failed = sum(event.status == "failed" for event in results)
        self.message_user(
            request,
            f"Retried {len(results)} events: {len(results) - failed} ok, {failed} failed.",
            messages.WARNING if failed else messages.SUCCESS,
        )
        return None

    @admin.action(permissions=["resolve"], description="Mark selected events processed")
    def mark_selected_processed(self, request, queryset):
        return self._bulk_resolve(request, queryset, "processed")

    @admin.action(permissions=["resolve"], description="Mark selected events ignored")
    def mark_selected_ignored(self, request, queryset):
        return self._bulk_resolve(request, queryset, "ignored")

    def _bulk_resolve(self, request, queryset, outcome: str):
        confirmed = self._confirm(request, queryset, f"mark_selected_{outcome}", outcome)
        if not isinstance(confirmed, str):
            return confirmed
        events = list(queryset)
        for event in events:
            self._resolve(request, event, RESOLVE_OUTCOMES[outcome], confirmed)
        self.message_user(request, f"Marked {len(events)} events {outcome}.", messages.SUCCESS)
        return None

    def _confirm(self, request, queryset, action: str, outcome: str, note: bool = True):
        """The note once confirmed (a str), else the confirmation page to show."""
        error = ""
        if request.POST.get("confirm"):
            text = request.POST.get("note", "").strip()
            if text or not note:
                return text
            error = "A note is required: say why, for whoever looks next."
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "events": queryset[:100],
            "count": queryset.count(),
            "action": action,
            "outcome": outcome,
            "needs_note": note,
            "error": error,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            "title": f"{outcome.capitalize()} {queryset.count()} events?",
        }
        return TemplateResponse(request, self.template("bulk_confirm"), context)


def payload_tree(value: Any, depth: int = 0) -> SafeString:
    """The payload as nested, foldable <details> (the top two levels open)."""
    if isinstance(value, dict) and value:
        rows = format_html_join(
            "",
            "<details{}><summary><code>{}</code></summary><div class='payload-node'>{}</div>"
            "</details>",
            (
                (mark_safe(" open") if depth < 2 else "", key, payload_tree(item, depth + 1))
                for key, item in value.items()
            ),
        )
        return rows
    if isinstance(value, list) and value:
        return payload_tree({f"[{i}]": item for i, item in enumerate(value)}, depth)
    return format_html("<code>{}</code>", json.dumps(value))


def changes(obj: dict[str, Any], previous: dict[str, Any], prefix: str = "") -> list[tuple]:
    """(path, before, after) for each field `previous_attributes` says changed."""
    rows = []
    for key, before in previous.items():
        after = obj.get(key) if isinstance(obj, dict) else None
        name = f"{prefix}{key}"
        if isinstance(before, dict) and isinstance(after, dict):
            rows.extend(changes(after, before, f"{name}."))
        else:
            rows.append((name, json.dumps(before), json.dumps(after)))
    return rows


def _change_url(event: WebhookEvent) -> str:
    return reverse(admin_urlname(WebhookEvent._meta, "change"), args=[event.pk])


def _admin_link(obj) -> str:
    opts = obj._meta
    try:
        return reverse(admin_urlname(opts, "change"), args=[obj.pk])
    except NoReverseMatch:  # not registered in the admin
        return ""
