"""Every error the Asset Directory raises, registered once so the README and schema list them.

`call_tool` / `list_tools` raise only the MCP_CALL_ERRORS below (all EngineError subclasses):
the tool registry turns them into a tool error for the model.
"""

from engine.errors import register_error

ServerNotFound = register_error(404, "server_not_found", "No MCP server by that name is in the catalog.")
ServerDisabled = register_error(409, "server_disabled", "That MCP server is disabled in the catalog.")
ServerMisconfigured = register_error(409, "server_misconfigured", "That MCP server's catalog entry is incomplete.")
ConnectionNotFound = register_error(404, "connection_not_found", "No connection has that ref_id.")
ConnectionNotConnected = register_error(409, "connection_not_connected", "That connection is not connected yet.")
ConnectionNeedsReauth = register_error(
    409, "connection_needs_reauth", "The provider rejected the stored grant; visit the connection's auth_url again."
)
ApiKeyRequired = register_error(400, "api_key_required", "This server needs server_config.api_key.")
ApiKeyRejected = register_error(400, "api_key_rejected", "The MCP server refused that API key.")
OAuthStateUnknown = register_error(400, "oauth_state_unknown", "That OAuth state is unknown.")
OAuthStateUsed = register_error(400, "oauth_state_used", "That OAuth state was already used.")
OAuthStateExpired = register_error(400, "oauth_state_expired", "That OAuth state has expired; connect again.")
OAuthAccessDenied = register_error(400, "oauth_access_denied", "Access was denied at the provider.")
OAuthProviderError = register_error(400, "oauth_provider_error", "The provider returned an error.")
OAuthCodeMissing = register_error(400, "oauth_code_missing", "The callback carries neither a code nor an error.")
OAuthDiscoveryFailed = register_error(
    502, "oauth_discovery_failed", "The server's authorization metadata could not be discovered."
)
OAuthRegistrationFailed = register_error(
    502, "oauth_registration_failed", "Dynamic client registration at the provider failed."
)
OAuthExchangeFailed = register_error(502, "oauth_exchange_failed", "The provider refused to exchange the code.")
OAuthInsecureEndpoint = register_error(
    502, "oauth_insecure_endpoint", "The provider's endpoints are not https (see ENGINE_OAUTH_INSECURE_HTTP)."
)
McpUnreachable = register_error(502, "mcp_unreachable", "The MCP server could not be reached.")
McpServerError = register_error(502, "mcp_server_error", "The MCP server returned an error.")
McpAuthRejected = register_error(502, "mcp_auth_rejected", "The MCP server rejected our credentials.")
McpTimeout = register_error(504, "mcp_timeout", "The MCP server did not answer in time.")
SecretsUnreadable = register_error(
    500, "secrets_unreadable", "Stored credentials cannot be decrypted with ENGINE_SECRETS_KEYS."
)

MCP_CALL_ERRORS = (
    ConnectionNotFound, ConnectionNotConnected, ConnectionNeedsReauth, McpUnreachable, McpServerError,
    McpAuthRejected, McpTimeout, OAuthExchangeFailed, SecretsUnreadable,
)
