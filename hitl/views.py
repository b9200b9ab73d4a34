from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.response import Response
from rest_framework.views import APIView

from hitl import services
from hitl.models import HitlRequest, RequestStatus
from hitl.serializers import PendingQuerySerializer, PendingRequestSerializer, RespondResultSerializer, RespondSerializer


class PendingView(APIView):
    @extend_schema(parameters=[PendingQuerySerializer],
                   responses={200: inline_serializer("PendingList", {"pending": PendingRequestSerializer(many=True)})})
    def get(self, request):
        query = PendingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        pending = HitlRequest.objects.filter(status=RequestStatus.PENDING).select_related("task")
        if "task_id" in query.validated_data:
            pending = pending.filter(task__task_id=query.validated_data["task_id"])
        return Response({"pending": PendingRequestSerializer(pending, many=True).data})


class RespondView(APIView):
    @extend_schema(request=RespondSerializer, responses={200: RespondResultSerializer})
    def post(self, request):
        incoming = RespondSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        answered = services.respond(resolved_by=f"key:{request.auth.prefix}", **incoming.validated_data)
        return Response({"status": "resumed", "request_id": answered.id, "resolution": answered.status})
