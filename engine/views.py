from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.auth import HasAdminScope
from engine.models import ApiKey
from engine.serializers import ApiKeySerializer, WhoAmISerializer


class WhoAmIView(APIView):
    """Which key is this? Lets a client check its key without side effects."""

    @extend_schema(responses={200: WhoAmISerializer})
    def get(self, request):
        key = request.auth
        return Response({"prefix": key.prefix, "name": key.name, "scope": key.scope})


class KeyListView(APIView):
    """Operators' view of the keys: prefixes, names, scopes and dates; never a key or a hash."""

    permission_classes = [HasAdminScope]

    @extend_schema(responses={200: ApiKeySerializer(many=True)})
    def get(self, request):
        return Response(ApiKeySerializer(ApiKey.objects.all(), many=True).data)
