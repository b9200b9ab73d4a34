from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from memory import export, search, soul
from memory.serializers import (
    EpisodeHitSerializer,
    EpisodeSearchRequest,
    FullSoulSerializer,
    ImportReportSerializer,
    KnowledgeHitSerializer,
    KnowledgeSearchRequest,
    PersonHitSerializer,
    SocialSearchRequest,
    SoulSerializer,
)


def search_response(request, request_serializer, run_search, hit_serializer) -> Response:
    incoming = request_serializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    data = incoming.validated_data
    hits = run_search(data["query"], limit=data["limit"], filters=data.get("filters"))
    return Response(hit_serializer(hits, many=True).data)


class KnowledgeSearchView(APIView):
    @extend_schema(request=KnowledgeSearchRequest, responses={200: KnowledgeHitSerializer(many=True)})
    def post(self, request):
        return search_response(request, KnowledgeSearchRequest, search.search_knowledge, KnowledgeHitSerializer)


class EpisodeSearchView(APIView):
    @extend_schema(request=EpisodeSearchRequest, responses={200: EpisodeHitSerializer(many=True)})
    def post(self, request):
        return search_response(request, EpisodeSearchRequest, search.search_episodes, EpisodeHitSerializer)


class SocialSearchView(APIView):
    @extend_schema(request=SocialSearchRequest, responses={200: PersonHitSerializer(many=True)})
    def post(self, request):
        return search_response(request, SocialSearchRequest, search.search_social, PersonHitSerializer)


class SoulView(APIView):
    @extend_schema(responses={200: SoulSerializer})
    def get(self, request):
        return Response(SoulSerializer(soul.soul_summary(soul.current_soul())).data)


class FullSoulView(APIView):
    @extend_schema(responses={200: FullSoulSerializer})
    def get(self, request):
        return Response(FullSoulSerializer(soul.full_soul(soul.current_soul())).data)


class ExportView(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, description="The whole memory as one versioned bundle.")
    def get(self, request):
        return Response(export.export_memory())


class ImportView(APIView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: ImportReportSerializer},
        description="Validates the whole bundle, then imports it in one transaction; idempotent.",
    )
    def post(self, request):
        return Response(ImportReportSerializer(export.import_memory(request.data)).data)
