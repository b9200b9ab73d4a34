from django.contrib import admin

from memory.embeddings import embed_rows, forget_vectors
from memory.lexical import comparison_key
from memory.models import Episode, KnowledgeItem, Person, PersonAlias, Relationship, SoulVersion
from memory.services import knowledge_text


@admin.register(KnowledgeItem)
class KnowledgeItemAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "short_content", "kind", "confidence", "mentions", "valid_from", "valid_until", "source"]
    list_filter = ["kind", "valid_from", "valid_until", "source"]
    search_fields = ["id", "subject", "content", "source"]
    readonly_fields = ["id", "subject_key", "content_key", "superseded_by", "episode", "mentions", "created_at", "updated_at"]
    date_hierarchy = "valid_from"

    def save_model(self, request, obj, form, change):
        # Edits here skip remember_fact; the dedupe keys must still follow the text.
        obj.subject_key, obj.content_key = comparison_key(obj.subject), comparison_key(obj.content, drop_articles=True)
        super().save_model(request, obj, form, change)
        # An old vector would find the row by what it used to say; embed_rows is a no-op when off.
        forget_vectors([obj])
        embed_rows([obj], knowledge_text)

    @admin.display(description="content")
    def short_content(self, item: KnowledgeItem) -> str:
        return item.content[:80]


@admin.register(Episode)
class EpisodeAdmin(admin.ModelAdmin):
    list_display = ["id", "task_id", "run_id", "outcome", "short_summary", "occurred_at"]
    list_filter = ["outcome", "occurred_at"]
    search_fields = ["id", "task_id", "run_id", "summary"]
    readonly_fields = ["id", "created_at", "updated_at"]
    date_hierarchy = "occurred_at"

    @admin.display(description="summary")
    def short_summary(self, episode: Episode) -> str:
        return episode.summary[:80]


class PersonAliasInline(admin.TabularInline):
    model = PersonAlias
    fields = ["alias"]
    extra = 0


class OutgoingRelationshipInline(admin.TabularInline):
    model = Relationship
    fk_name = "source"
    fields = ["kind", "target", "note", "learned_at"]
    raw_id_fields = ["target"]
    extra = 0
    verbose_name_plural = "relationships from this person"


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "aliases_shown", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["id", "name", "aliases__alias", "notes"]
    readonly_fields = ["id", "name_key", "search_text", "created_at", "updated_at"]
    inlines = [PersonAliasInline, OutgoingRelationshipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("aliases")

    def save_model(self, request, obj, form, change):
        obj.name_key = comparison_key(obj.name)
        super().save_model(request, obj, form, change)

    @admin.display(description="aliases")
    def aliases_shown(self, person: Person) -> str:
        return ", ".join(person.alias_list)


@admin.register(Relationship)
class RelationshipAdmin(admin.ModelAdmin):
    list_display = ["id", "source_shown", "kind", "target", "short_note", "learned_at"]
    list_filter = ["kind", "learned_at"]
    search_fields = ["id", "kind", "note", "source__name", "target__name"]
    raw_id_fields = ["source", "target"]
    list_select_related = ["source", "target"]

    @admin.display(description="source")
    def source_shown(self, relationship: Relationship) -> str:
        return relationship.source.name if relationship.source_id else "(the user)"

    @admin.display(description="note")
    def short_note(self, relationship: Relationship) -> str:
        return relationship.note[:80]


@admin.register(SoulVersion)
class SoulVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "origin", "note", "short_identity", "created_at"]
    list_filter = ["origin", "created_at"]
    search_fields = ["id", "identity", "note"]
    readonly_fields = [field.name for field in SoulVersion._meta.fields]

    @admin.display(description="identity")
    def short_identity(self, soul: SoulVersion) -> str:
        return soul.identity[:80]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
