import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import OperationalError
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe

from bootwebhooks.conf import app_settings
from bootwebhooks.inbox.dispatch import caused_by, dispatch, effect_words, is_lock_conflict, preview
from bootwebhooks.inbox.models import Attempt, WebhookEvent
from bootwebhooks.inbox.permissions import permission
from bootwebhooks.inbox.registry import registry
from bootwebhooks.inbox.words import first_line, money, sentence, when

STATUS_COLOURS = {
    "pending": "#b26a00",
    "processed": "#2e7d32",
    "failed": "#c62828",
    "ignored": "#616161",
    "superseded": "#5c6bc0",
}
_BUSY = "Rows this event needs are locked elsewhere right now: try again in a moment."
RESOLVE_OUTCOMES = {"processed": Attempt.Outcome.PROCESSED, "ignored": Attempt.Outcome.IGNORED}
# A consumer app may register a page for the person behind a Stripe customer under this URL
# name (the memberships admin does); the event list then links each event's customer to it.
PERSON_URL_NAME = "admin:bootwebhooks_person"
PEOPLE_URL_NAME = "admin:bootwebhooks_people"


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
    change_list_template = "admin/bootwebhooks_inbox/fitting_change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # Lists fit 1280 px without a sideways scroll only without the app sidebar beside the
        # filters (the breadcrumbs still lead home).
        context = {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        return super().changelist_view(request, context)

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
    list_display = ["received", "event", "coloured_status", "person", "amount", "detail"]
    list_display_links = ["received", "event"]
    list_filter = [
        "status",
        HandledTypeFilter,
        "livemode",
        ("received_at", admin.DateFieldListFilter),
        ("stripe_created", admin.DateFieldListFilter),
    ]
    search_fields = ["stripe_id"]  # the real search is get_search_results
    search_help_text = (
        "Part of an email, a name, or any Stripe id (evt_, cus_, sub_, in_, ch_, pi_, cs_); "
        "a customer's email or name finds all of their events."
    )
    ordering = ["-received_at"]
    list_per_page = 50
    actions = ["retry_selected", "mark_selected_processed", "mark_selected_ignored"]
    exclude = ["body", "headers"]

    # --- list ---------------------------------------------------------------------------
    def get_queryset(self, request):
        failures = Attempt.objects.filter(outcome=Attempt.Outcome.FAILED).order_by("-pk")
        failures = failures.only("event_id", "error")
        return (
            super()
            .get_queryset(request)
            .defer("headers")
            .prefetch_related(Prefetch("attempts", queryset=failures, to_attr="failures"))
        )

    @admin.display(description="received", ordering="received_at")
    def received(self, obj: WebhookEvent) -> str:
        return when(obj.received_at)

    @admin.display(description="event", ordering="type")
    def event(self, obj: WebhookEvent) -> SafeString:
        return format_html('{}<br><small class="quiet">{}</small>', obj.type, obj.stripe_id)

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

    @admin.display(description="person")
    def person(self, obj: WebhookEvent) -> SafeString | str:
        return person_link(obj.customer_id, obj.customer_email)

    @admin.display(description="amount")
    def amount(self, obj: WebhookEvent) -> str:
        return event_amount(obj)

    @admin.display(description="error or object")
    def detail(self, obj: WebhookEvent) -> SafeString | str:
        failures = getattr(obj, "failures", [])
        if obj.status == WebhookEvent.Status.FAILED and failures:
            return format_html('<span class="error">{}</span>', first_line(failures[0].error))
        return obj.object_id

    def get_search_results(self, request, queryset, search_term: str):
        return queryset.filter(event_search(search_term)), False

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
        try:
            tree = payload_tree(event.data)
            diff = changes(event.object, event.previous_attributes)
        except (ValueError, RecursionError, KeyError, TypeError):
            # Stored by an older version, or by hand: too deep or not an event. Raw only.
            tree, diff = mark_safe("<p>This payload cannot be shown as a tree.</p>"), []
        context = {
            **(extra_context or {}),
            "payload_tree": tree,
            "raw_payload": event.body,
            "changes": diff,
            "headers": sorted(event.headers.items()),
            "attempts": event.attempts.select_related("user"),
            "caused": [(effect_words(obj), admin_url(obj)) for obj in caused_by(event)],
            "person": person_link(event.customer_id, event.customer_email),
            "amount": event_amount(event),
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
            try:
                done = dispatch(
                    event.pk, trigger=Attempt.Trigger.STAFF, user=request.user, note=note
                )
            except OperationalError as exc:
                if not is_lock_conflict(exc):
                    raise
                self.message_user(request, _BUSY, messages.ERROR)
                return HttpResponseRedirect(_change_url(event))
            self.log_change(request, done, sentence(f"Retried: {done.status}", note))
            level = messages.ERROR if done.status == "failed" else messages.SUCCESS
            self.message_user(request, f"Event {done.stripe_id} retried: {done.status}", level)
            return HttpResponseRedirect(_change_url(done))
        try:
            would = preview(event.pk)
        except OperationalError as exc:
            if not is_lock_conflict(exc):
                raise
            self.message_user(request, _BUSY, messages.ERROR)
            return HttpResponseRedirect(_change_url(event))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "event": event,
            "preview": would,
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
                self.message_user(
                    request, f"Event {event.stripe_id} marked {outcome}", messages.SUCCESS
                )
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
        self.log_change(request, event, sentence(f"Marked {outcome}: {note}"))

    # --- bulk actions (each shows a confirmation page with honest counts first) -------------
    @admin.action(permissions=["retry"], description="Retry selected events")
    def retry_selected(self, request, queryset):
        to_retry = queryset.exclude(status__in=WebhookEvent.FINAL)
        confirmed = self._confirm(request, queryset, to_retry, "retry_selected", "retry", False)
        if not isinstance(confirmed, str):
            return confirmed
        results = [
            dispatch(pk, trigger=Attempt.Trigger.STAFF, user=request.user)
            for pk in to_retry.values_list("pk", flat=True)
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
        to_mark = queryset.exclude(status=outcome)
        confirmed = self._confirm(request, queryset, to_mark, f"mark_selected_{outcome}", outcome)
        if not isinstance(confirmed, str):
            return confirmed
        events = list(to_mark)
        for event in events:
            self._resolve(request, event, RESOLVE_OUTCOMES[outcome], confirmed)
        self.message_user(request, f"Marked {len(events)} events {outcome}.", messages.SUCCESS)
        return None

    def _confirm(self, request, selected, acted_on, action: str, outcome: str, note: bool = True):
        """The note once confirmed (a str), else the page to show: the confirmation with the
        counts, or a refusal when the selection is larger than ADMIN_BULK_LIMIT."""
        limit = app_settings.ADMIN_BULK_LIMIT
        count = selected.order_by()[: limit + 1].count()
        if count > limit:
            self.message_user(request, too_many(count, limit, outcome), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        error = ""
        if request.POST.get("confirm"):
            text = request.POST.get("note", "").strip()
            if text or not note:
                return text
            error = "A note is required: say why, for whoever looks next."
        to_act = acted_on.count()
        verb = "to retry" if outcome == "retry" else f"to mark {outcome}"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "events": selected[:100],
            "count": count,
            "to_act": to_act,
            "skipped": count - to_act,
            "summary": f"{count} selected, {to_act} {verb}",
            "action": action,
            "outcome": outcome,
            "needs_note": note,
            "error": error,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            "cancel_url": request.get_full_path(),
            "title": f"{outcome.capitalize()} events: {count} selected, {to_act} {verb}",
        }
        return TemplateResponse(request, self.template("bulk_confirm"), context)


def too_many(count: int, limit: int, outcome: str) -> str:
    """Why a bulk action over more than `limit` rows is refused, and what to run instead."""
    shown = f"more than {limit}" if count > limit else str(count)
    if outcome == "retry":
        command = "manage.py replay_webhook_events --status failed [--type ...] [--since ...]"
    else:
        command = f"manage.py mark_webhook_events --as {outcome} --note '...' [--status ...]"
    return (
        f"{shown} events selected: the admin acts on at most {limit} at once, so nothing was "
        f"done. Narrow the list with the filters, or run {command} on the server."
    )


def event_search(term: str) -> Q:
    """Partial, case-insensitive: the event's own ids and email, plus every event of the
    customers the ADMIN_EVENT_SEARCH functions find for the term (by email, name or id)."""
    term = term.strip()
    if not term:
        return Q()
    match = Q()
    for name in ("stripe_id", "object_id", "customer_id", "customer_email"):
        match |= Q(**{f"{name}__icontains": term})
    customers: set[str] = set()
    for finder in app_settings.ADMIN_EVENT_SEARCH:
        customers |= import_string(finder)(term)
    if customers:
        match |= Q(customer_id__in=customers)
    return match


def event_amount(event: WebhookEvent) -> str:
    """What the event's object is worth: an invoice's amount due, a Checkout's total, a
    refund's refunded amount, a dispute's amount; `-` for objects without one."""
    try:
        obj = event.object
    except (RecursionError, ValueError):  # stored too deep (or broken) to parse: no amount
        return "-"
    if not isinstance(obj, dict) or not isinstance(obj.get("currency"), str):
        return "-"
    if event.type == "charge.refunded":
        return "refund " + money(obj.get("amount_refunded"), obj["currency"])
    for key in ("amount_due", "amount_total", "amount_paid", "amount"):
        if isinstance(obj.get(key), int):
            return money(obj[key], obj["currency"])
    return "-"


def person_link(customer_id: str, email: str) -> SafeString | str:
    """The event's customer (its email if known), linked to the person page when a consumer
    app registered one; a guest with only an email links to the person search."""
    label = email or customer_id
    if not label:
        return "-"
    try:
        if customer_id:
            url = reverse(PERSON_URL_NAME, args=[customer_id])
        else:
            url = reverse(PEOPLE_URL_NAME) + "?" + urlencode({"q": email})
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


TREE_DEPTH = 8  # levels shown as a tree; anything deeper as its raw JSON, one click away


def payload_tree(value: Any, depth: int = 0) -> SafeString:
    """The payload as nested, foldable <details> (the top two levels open), down to
    TREE_DEPTH levels: a value nested deeper is shown as raw JSON, so a payload nested
    hundreds of levels deep costs one line, not a recursion per level."""
    if isinstance(value, dict | list) and value and depth >= TREE_DEPTH:
        return format_html(
            "<details class='payload-raw'><summary>show raw</summary><pre>{}</pre></details>",
            json.dumps(value),
        )
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


def changes(
    obj: dict[str, Any], previous: dict[str, Any], prefix: str = "", depth: int = 0
) -> list[tuple]:
    """(path, before, after) for each field `previous_attributes` says changed (as a whole
    below TREE_DEPTH levels)."""
    rows = []
    for key, before in previous.items():
        after = obj.get(key) if isinstance(obj, dict) else None
        name = f"{prefix}{key}"
        if isinstance(before, dict) and isinstance(after, dict) and depth < TREE_DEPTH:
            rows.extend(changes(after, before, f"{name}.", depth + 1))
        else:
            rows.append((name, json.dumps(before), json.dumps(after)))
    return rows


def _change_url(event: WebhookEvent) -> str:
    return reverse(admin_urlname(WebhookEvent._meta, "change"), args=[event.pk])


def admin_url(obj) -> str:
    """The admin page of `obj`, or "" if its model is not in the admin."""
    try:
        return reverse(admin_urlname(obj._meta, "change"), args=[obj.pk])
    except NoReverseMatch:  # not registered in the admin
        return ""
