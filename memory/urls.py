from django.urls import path

from memory import views

urlpatterns = [
    path("memory/knowledge/search", views.KnowledgeSearchView.as_view(), name="memory-knowledge-search"),
    path("memory/episodes/search", views.EpisodeSearchView.as_view(), name="memory-episodes-search"),
    path("memory/social/search", views.SocialSearchView.as_view(), name="memory-social-search"),
    path("memory/soul", views.SoulView.as_view(), name="memory-soul"),
    path("memory/soul/full", views.FullSoulView.as_view(), name="memory-soul-full"),
    path("memory/export", views.ExportView.as_view(), name="memory-export"),
    path("memory/import", views.ImportView.as_view(), name="memory-import"),
]
