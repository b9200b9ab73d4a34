from django.urls import path

from assets.views import (
    CallbackView, ConnectionDetailView, ConnectionListView, ConnectView, OAuthRedirectView, ServerListView,
)

urlpatterns = [
    path("assets/servers", ServerListView.as_view(), name="assets-servers"),
    path("assets/connections", ConnectionListView.as_view(), name="assets-connections"),
    path("assets/connections/<str:ref_id>", ConnectionDetailView.as_view(), name="assets-connection"),
    path("assets/connect", ConnectView.as_view(), name="assets-connect"),
    path("assets/callback", CallbackView.as_view(), name="assets-callback"),
    path("assets/oauth/callback", OAuthRedirectView.as_view(), name="assets-oauth-callback"),
]
