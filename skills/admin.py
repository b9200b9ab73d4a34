from django.contrib import admin

from skills import services
from skills.models import CatalogGeneration, Skill, SkillVersion


class SkillVersionInline(admin.TabularInline):
    model = SkillVersion
    extra = 0
    can_delete = False
    fields = ["version", "description", "category", "confidence", "created_at"]
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "version", "confidence", "updated_at"]
    list_filter = ["category"]
    search_fields = ["name", "description", "category", "prompt_template"]
    readonly_fields = ["version", "created_at", "updated_at"]
    inlines = [SkillVersionInline]

    def save_model(self, request, obj, form, change):
        if change:
            services.save_edited_skill(skill=obj)
        else:
            super().save_model(request, obj, form, change)


@admin.register(CatalogGeneration)
class CatalogGenerationAdmin(admin.ModelAdmin):
    list_display = ["generation", "reloaded_at"]
    readonly_fields = ["id", "generation", "reloaded_at"]

    def has_add_permission(self, request) -> bool:
        return False
