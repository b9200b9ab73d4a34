from rest_framework import serializers

from skills.models import skill_name_validator


class SkillWriteSerializer(serializers.Serializer):
    """POST /skills/create and PUT /skills/{name} (there, every field is optional)."""

    name = serializers.CharField(min_length=2, max_length=64, validators=[skill_name_validator])
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    category = serializers.CharField(required=False, allow_blank=True, max_length=100)
    prompt = serializers.CharField(required=False, allow_blank=True, max_length=100_000, trim_whitespace=False)
    capabilities = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    scripts = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False)
    confidence = serializers.FloatField(required=False, min_value=0, max_value=1)

    def validate_scripts(self, scripts: dict) -> dict:
        for filename in scripts:
            if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
                raise serializers.ValidationError(f"{filename!r} is not a plain file name.")
        return scripts

    def fields_for_service(self) -> dict:
        """The validated fields under the model's names (`prompt` is stored as `prompt_template`)."""
        data = dict(self.validated_data)
        data.pop("name", None)
        if "prompt" in data:
            data["prompt_template"] = data.pop("prompt")
        return data


class SkillUpdateSerializer(SkillWriteSerializer):
    name = serializers.CharField(required=False)

    def validate_name(self, name: str) -> str:
        if name != self.context["name"]:
            raise serializers.ValidationError("A skill cannot be renamed; create a new one instead.")
        return name


class SkillListItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    source = serializers.ChoiceField(choices=["platform", "custom"])
    category = serializers.CharField()
    confidence = serializers.FloatField()


class SkillVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class SkillSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    prompt_template = serializers.CharField()
    scripts = serializers.DictField(child=serializers.CharField())
    capabilities = serializers.ListField(child=serializers.CharField())
    confidence = serializers.FloatField()
    source = serializers.ChoiceField(choices=["platform", "custom"])
    version = serializers.IntegerField()
    versions = serializers.SerializerMethodField()
    history = SkillVersionSerializer(many=True, help_text="Earlier versions of a custom skill, newest first.")

    def get_versions(self, skill) -> int:
        return skill.version


class SkillDeletedSerializer(serializers.Serializer):
    status = serializers.CharField()
    name = serializers.CharField()
