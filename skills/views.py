from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from skills import services
from skills.serializers import (
    SkillDeletedSerializer,
    SkillListItemSerializer,
    SkillSerializer,
    SkillUpdateSerializer,
    SkillWriteSerializer,
)


class SkillListView(APIView):
    @extend_schema(responses={200: SkillListItemSerializer(many=True)})
    def get(self, request):
        return Response(SkillListItemSerializer(services.list_skills(), many=True).data)


class SkillCreateView(APIView):
    @extend_schema(request=SkillWriteSerializer, responses={201: SkillSerializer})
    def post(self, request):
        incoming = SkillWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        skill = services.create_skill(name=incoming.validated_data["name"], **incoming.fields_for_service())
        return Response(SkillSerializer(skill).data, status=status.HTTP_201_CREATED)


class SkillDetailView(APIView):
    @extend_schema(responses={200: SkillSerializer})
    def get(self, request, name: str):
        return Response(SkillSerializer(services.get_skill(name=name)).data)

    @extend_schema(request=SkillUpdateSerializer, responses={200: SkillSerializer})
    def put(self, request, name: str):
        incoming = SkillUpdateSerializer(data=request.data, context={"name": name})
        incoming.is_valid(raise_exception=True)
        skill = services.update_skill(name=name, **incoming.fields_for_service())
        return Response(SkillSerializer(skill).data)

    @extend_schema(responses={200: SkillDeletedSerializer})
    def delete(self, request, name: str):
        services.delete_skill(name=name)
        return Response(SkillDeletedSerializer({"status": "deleted", "name": name}).data)
