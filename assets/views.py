from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.html import escape
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from assets import services
from assets.models import Connection, McpServer
from assets.serializers import (
    CallbackRequestSerializer, ConnectionSerializer, ConnectRequestSerializer, ConnectResponseSerializer,
    DisconnectResponseSerializer, ServerSerializer,
)

CALLBACK_PATH = "/assets/oauth/callback"


def _redirect_uri(request) -> str:
    if settings.ENGINE_PUBLIC_URL:
        return settings.ENGINE_PUBLIC_URL + CALLBACK_PATH
    return request.build_absolute_uri(CALLBACK_PATH)


class ServerListView(APIView):
    @extend_schema(responses=ServerSerializer(many=True))
    def get(self, request):
        return Response(ServerSerializer(McpServer.objects.all(), many=True).data)


class ConnectionListView(APIView):
    @extend_schema(responses=ConnectionSerializer(many=True))
    def get(self, request):
        connections = Connection.objects.select_related("server")
        return Response(ConnectionSerializer(connections, many=True).data)


class ConnectView(APIView):
    @extend_schema(request=ConnectRequestSerializer, responses={200: ConnectResponseSerializer})
    def post(self, request):
        incoming = ConnectRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        connection = services.connect(redirect_uri=_redirect_uri(request), **incoming.validated_data)
        body = {"ref_id": connection.ref_id, "status": connection.status}
        if connection.auth_url:
            body["auth_url"] = connection.auth_url
        return Response(body)


class ConnectionDetailView(APIView):
    @extend_schema(responses=DisconnectResponseSerializer)
    def delete(self, request, ref_id: str):
        revoked = services.disconnect(ref_id=ref_id)
        return Response({"status": "disconnected", "ref_id": ref_id, "revoked": revoked})


class CallbackView(APIView):
    """POST /assets/callback: the internal form of the OAuth completion (needs a key)."""

    @extend_schema(request=CallbackRequestSerializer, responses=ConnectionSerializer)
    def post(self, request):
        incoming = CallbackRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        completion = services.complete_authorization(**incoming.validated_data)
        return Response(ConnectionSerializer(completion.connection).data)


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class OAuthRedirectView(APIView):
    """GET /assets/oauth/callback: the provider sends the browser here, without an X-Engine-Key;
    the single-use state is the credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request, force=False):
        # A browser sends Accept: text/html; it gets the HTML page below, never a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(parameters=[CallbackRequestSerializer], responses=ConnectionSerializer, auth=[])
    def get(self, request):
        incoming = CallbackRequestSerializer(data=request.query_params)
        incoming.is_valid(raise_exception=True)
        completion = services.complete_authorization(**incoming.validated_data)
        connection = completion.connection
        if completion.return_url:
            params = {"ref_id": connection.ref_id, "status": connection.status}
            return HttpResponseRedirect(_with_query(completion.return_url, params))
        if "text/html" in request.headers.get("Accept", ""):
            name = escape(connection.server.display_name)
            return HttpResponse(
                f"<!doctype html><title>Connected</title><h1>{name} is connected</h1>"
                f"<p>Connection {escape(connection.ref_id)}. You can close this window.</p>"
            )
        return Response(ConnectionSerializer(connection).data)
