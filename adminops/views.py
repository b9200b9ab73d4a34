from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from adminops import learning, services
from adminops.catalog_reload import reload_catalog
from adminops.serializers import (
    CatalogReloadSerializer,
    FeedbackSerializer,
    LcTriggeredSerializer,
    LcTriggerSerializer,
    LearningBatchSerializer,
    SoulReloadSerializer,
)
from engine.auth import HasAdminScope
from memory.soul import reload_soul_template


class FeedbackView(APIView):
    @extend_schema(request=FeedbackSerializer, responses={201: FeedbackSerializer})
    def post(self, request):
        incoming = FeedbackSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        feedback = services.record_feedback(key=request.auth, **incoming.validated_data)
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)


class ReloadCoreSoulView(APIView):
    permission_classes = [HasAdminScope]

    @extend_schema(request=None, responses={200: SoulReloadSerializer})
    def post(self, request):
        return Response(SoulReloadSerializer(reload_soul_template()).data)


class ReloadCatalogView(APIView):
    permission_classes = [HasAdminScope]

    @extend_schema(request=None, responses={200: CatalogReloadSerializer})
    def post(self, request):
        return Response(CatalogReloadSerializer(reload_catalog()).data)


class LcTriggerView(APIView):
    permission_classes = [HasAdminScope]

    @extend_schema(request=LcTriggerSerializer, responses={202: LcTriggeredSerializer})
    def post(self, request):
        incoming = LcTriggerSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        batch = learning.start_batch(**incoming.validated_data)
        return Response(LcTriggeredSerializer(batch).data, status=status.HTTP_202_ACCEPTED)


class LcBatchView(APIView):
    permission_classes = [HasAdminScope]

    @extend_schema(responses={200: LearningBatchSerializer})
    def get(self, request, batch_id: str):
        return Response(LearningBatchSerializer(learning.get_batch(batch_id=batch_id)).data)
