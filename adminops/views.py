from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from adminops import services
from adminops.serializers import FeedbackSerializer


class FeedbackView(APIView):
    @extend_schema(request=FeedbackSerializer, responses={201: FeedbackSerializer})
    def post(self, request):
        incoming = FeedbackSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        feedback = services.record_feedback(key=request.auth, **incoming.validated_data)
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)
