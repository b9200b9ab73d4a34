from django.urls import path

from execution.views import CancelView, ExecuteView, ReplayView, RpcView

urlpatterns = [
    path("execute", ExecuteView.as_view(), name="execute"),
    path("execute/replay", ReplayView.as_view(), name="execute-replay"),
    path("execute/cancel", CancelView.as_view(), name="execute-cancel"),
    path("rpc", RpcView.as_view(), name="rpc"),
]
