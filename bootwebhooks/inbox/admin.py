import json

from django.contrib import admin
from django.utils.html import format_html

from bootwebhooks.inbox.models import Attempt, WebhookEvent


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ["started_at", "finished_at", "outcome", "trigger", "user", "error", "note"]
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = [
        "stripe_id",
        "type",
        "status",
        "object_id",
        "customer_id",
        "stripe_created",
        "received_at",
        "delivery_count",
    ]
    list_filter = ["status", "type", "livemode"]
    search_fields = ["=stripe_id", "=object_id", "=customer_id"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    show_full_result_count = False  # no COUNT(*) over the whole table on every page
    inlines = [AttemptInline]
    exclude = ["body"]
    readonly_fields = ["payload"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        shown = [f.name for f in WebhookEvent._meta.fields if f.name != "body"]
        return [*shown, "payload"]

    @admin.display(description="payload")
    def payload(self, obj: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
