from django.urls import path

from adminops.views import FeedbackView, LcBatchView, LcTriggerView, ReloadCatalogView, ReloadCoreSoulView

urlpatterns = [
    path("feedback", FeedbackView.as_view(), name="feedback"),
    path("admin/reload-core-soul", ReloadCoreSoulView.as_view(), name="admin-reload-core-soul"),
    path("admin/reload-catalog", ReloadCatalogView.as_view(), name="admin-reload-catalog"),
    path("admin/lc/trigger", LcTriggerView.as_view(), name="admin-lc-trigger"),
    path("admin/lc/batches/<str:batch_id>", LcBatchView.as_view(), name="admin-lc-batch"),
]
