from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bootwebhooks.inbox.permissions import API_AUTHENTICATION, CanViewModel
from bootwebhooks.inbox.schema import extend_schema, inline_serializer
from bootwebhooks.inbox.users import parse_pk
from bootwebhooks.memberships.models import Membership

_MEMBERSHIP = inline_serializer(
    "Membership",
    {
        "user_id": serializers.CharField(),
        "is_member": serializers.BooleanField(),
        "status": serializers.CharField(),
        "plan": serializers.CharField(),
        "access_until": serializers.DateTimeField(allow_null=True),
        "subscription_id": serializers.CharField(),
        "cancel_at_period_end": serializers.BooleanField(),
    },
)


class MembershipDetailView(APIView):
    """A user's membership, for the rest of the platform (token or staff session, like the
    events API). 404 for an unknown user; a user without a membership is simply no member."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated, CanViewModel]
    queryset = Membership.objects.all()  # CanViewModel asks for memberships.view_membership

    @extend_schema(responses=_MEMBERSHIP)
    def get(self, request: Request, user_id: str) -> Response:
        # Any primary key type (int, UUID...): what cannot be one is an unknown user, 404.
        pk = parse_pk(user_id)
        if pk is None:
            raise Http404("no such user")
        user = get_object_or_404(get_user_model(), pk=pk)
        membership = Membership.objects.filter(user=user).first() or Membership(user=user)
        # Dates as DRF writes them, like the events API: ISO 8601 ending in `Z`.
        until = serializers.DateTimeField().to_representation(membership.access_until)
        return Response(
            {
                "user_id": user.pk,
                "is_member": membership.grants_access(timezone.now()),
                **membership.state(),
                "access_until": until,
            }
        )
