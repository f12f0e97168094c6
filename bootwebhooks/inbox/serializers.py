from rest_framework import serializers

from bootwebhooks.inbox.models import Attempt, WebhookEvent


class AttemptSerializer(serializers.ModelSerializer):
    trigger = serializers.CharField(source="triggered_by")

    class Meta:
        model = Attempt
        fields = ["outcome", "error", "started_at", "finished_at", "trigger", "note"]


class WebhookEventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="stripe_id")
    attempts = AttemptSerializer(many=True)

    class Meta:
        model = WebhookEvent
        fields = [
            "id",
            "type",
            "status",
            "ignored_reason",
            "api_version",
            "livemode",
            "stripe_created",
            "account",
            "object_id",
            "customer_id",
            "source",
            "delivery_count",
            "received_at",
            "processed_at",
            "attempts",
        ]


class RetrySerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ResolveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["processed", "ignored"])
    note = serializers.CharField(allow_blank=False)
