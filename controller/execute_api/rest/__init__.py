"""REST APIs' invoke path: match the resource, admit the caller (guard), call the integration, map the answer."""
