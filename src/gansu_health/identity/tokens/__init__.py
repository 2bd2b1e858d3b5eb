"""Bearer tokens: issued by the authorisation server and the operator CLI, looked up per request."""
