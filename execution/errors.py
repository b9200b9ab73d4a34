"""Errors of the execution app: HTTP errors (registered with the rest) and the codes that
`error` events carry when a turn fails (UPPER_SNAKE_CASE, listed in the README)."""

from engine.errors import register_error

TaskBusy = register_error(409, "task_busy", "A turn is already running on this task.")
TaskNotFound = register_error(404, "task_not_found", "There is no task with that task_id.")
MessageNotFound = register_error(404, "message_not_found", "That message is not part of this task.")
NoActiveRun = register_error(404, "no_active_run", "Nothing is running on this task.")
InvalidCursor = register_error(400, "invalid_cursor", "Last-Event-ID must be an event id from this Engine.")

RUN_ERROR_CODES = {
    "LLM_PROVIDER_ERROR": "The model provider failed (5xx or an unexpected answer).",
    "LLM_AUTH_ERROR": "The model provider refused our credentials.",
    "LLM_RATE_LIMITED": "The model provider rate-limited us and retries ran out.",
    "LLM_OVERLOADED": "The model provider is overloaded and retries ran out.",
    "LLM_TIMEOUT": "The model provider did not answer in time.",
    "LLM_BAD_STREAM": "The model provider's stream was malformed.",
    "MAX_STEPS_EXCEEDED": "The turn used ENGINE_MAX_STEPS model calls without finishing.",
    "RUN_LOST": "The worker running the turn stopped (crash or kill); the turn was lost.",
    "WORKER_SHUTDOWN": "The server shut down before the turn finished.",
    "EVENT_LOG_UNAVAILABLE": "The database could not record the turn's events.",
    "INTERNAL_ERROR": "A bug in the Engine; the details are in its log.",
}


class RunCancelled(BaseException):
    """Raised inside a run's greenlet to stop it (POST /execute/cancel). A BaseException, so
    that no `except Exception` on the way can swallow it."""


class WorkerStopping(BaseException):
    """Raised inside a run's greenlet when the worker shuts down and cannot wait any longer."""


class Paused(Exception):
    """The turn waits on the user: its state is stored and its greenlet ends (see turn_tools)."""


class RunFailed(Exception):
    """Ends a turn with an `error` event carrying `code`."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
