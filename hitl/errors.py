from engine.errors import register_error

HitlNotFound = register_error(404, "hitl_not_found", "Nothing is waiting for an answer there.")
HitlAlreadyResolved = register_error(409, "hitl_already_resolved", "That request was already answered otherwise.")
HitlExpired = register_error(410, "hitl_expired", "That request expired before it was answered.")
