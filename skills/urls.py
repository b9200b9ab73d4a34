from django.urls import path

from skills.views import SkillCreateView, SkillDetailView, SkillListView

urlpatterns = [
    path("skills", SkillListView.as_view(), name="skills"),
    path("skills/create", SkillCreateView.as_view(), name="skill-create"),
    path("skills/<str:name>", SkillDetailView.as_view(), name="skill"),
]
