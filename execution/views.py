from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from execution import rpc, services, streaming
from execution.errors import InvalidCursor, TaskNotFound
from execution.models import Task
from execution.serializers import CancelResultSerializer, CancelSerializer, ExecuteSerializer, ReplayQuerySerializer, RpcSerializer

STREAM_DESCRIPTION = "Server-Sent Events: `id:`, `event:` and one-line JSON `data:` per event (see the README)."


class EventStreamRenderer(BaseRenderer):
    """Lets `Accept: text/event-stream` pass content negotiation; the body is streamed."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ExecuteView(APIView):
    renderer_classes = [EventStreamRenderer, JSONRenderer]

    @extend_schema(request=ExecuteSerializer, responses={200: OpenApiResponse(description=STREAM_DESCRIPTION)})
    def post(self, request):
        incoming = ExecuteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        run = services.start_run(services.TurnRequest(**incoming.validated_data))
        return streaming.follow_run(run)


class ReplayView(APIView):
    renderer_classes = [EventStreamRenderer, JSONRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("after", OpenApiTypes.INT, description="epoch milliseconds; 0 replays everything kept"),
            OpenApiParameter("task_id", OpenApiTypes.STR, description="only this task (default: every task)"),
            OpenApiParameter("Last-Event-ID", OpenApiTypes.INT, OpenApiParameter.HEADER, description="resume after this event id"),
        ],
        responses={200: OpenApiResponse(description=STREAM_DESCRIPTION)},
    )
    def get(self, request):
        query = ReplayQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        task_id = query.validated_data.get("task_id")
        if task_id is not None and not Task.objects.filter(task_id=task_id).exists():
            raise TaskNotFound(f"There is no task {task_id!r}.")
        last_event_id = request.headers.get("Last-Event-ID")
        if last_event_id is not None and not last_event_id.isdigit():
            raise InvalidCursor()
        return streaming.replay(
            task_id=task_id,
            after_ts=query.validated_data["after"] if last_event_id is None else None,
            after_id=int(last_event_id or 0),
        )


class CancelView(APIView):
    @extend_schema(request=CancelSerializer, responses={200: CancelResultSerializer})
    def post(self, request):
        incoming = CancelSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        run = services.cancel_active_run(task_id=incoming.validated_data["task_id"])
        state = "cancelled" if run.is_finished else "cancelling"
        return Response({"status": state, "run_id": run.id, "task_id": run.task.task_id})


class RpcView(APIView):
    @extend_schema(request=RpcSerializer, responses={200: OpenApiResponse(description='{"result": <the tool\'s output>}')})
    def post(self, request):
        incoming = RpcSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = rpc.call(**{"task_id": None, **incoming.validated_data})
        return Response({"result": result})
