"""GET /health: is this process able to serve? (database reachable, migrations applied)"""

import logging
import time

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

import engine
from engine.errors import ServiceUnavailable, error_response

logger = logging.getLogger(__name__)
_STARTED = time.monotonic()
# Planning migrations costs tens of milliseconds, so a passing check is trusted for a while.
MIGRATIONS_RECHECK_SECONDS = 300
_migrations_checked_at: float | None = None


def _database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        logger.warning("health: database unreachable", exc_info=True)
        return False


def _migrations_applied() -> bool:
    global _migrations_checked_at
    now = time.monotonic()
    if _migrations_checked_at is not None and now - _migrations_checked_at < MIGRATIONS_RECHECK_SECONDS:
        return True
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    _migrations_checked_at = now
    return True


@extend_schema(
    auth=[],
    responses={
        200: inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "version": serializers.CharField(),
                "uptime_seconds": serializers.FloatField(),
                "checks": serializers.DictField(child=serializers.CharField()),
            },
        ),
        503: OpenApiResponse(description="Database unreachable or migrations pending (error shape)."),
    },
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def health(request):
    checks = {"database": "ok" if _database_reachable() else "unreachable"}
    if checks["database"] == "ok":
        checks["migrations"] = "ok" if _migrations_applied() else "pending"
    if any(state != "ok" for state in checks.values()):
        problem = "The database is unreachable." if checks["database"] != "ok" else "Migrations are not applied."
        return error_response(ServiceUnavailable(problem, status="unavailable", checks=checks))
    return Response(
        {
            "status": "ok",
            "version": engine.__version__,
            "uptime_seconds": round(time.monotonic() - _STARTED, 3),
            "checks": checks,
        }
    )
