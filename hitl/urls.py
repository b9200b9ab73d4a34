from django.urls import path

from hitl.views import PendingView, RespondView

urlpatterns = [
    path("hitl/pending", PendingView.as_view(), name="hitl-pending"),
    path("hitl/respond", RespondView.as_view(), name="hitl-respond"),
]
