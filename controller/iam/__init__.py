"""AWS Identity and Access Management: identities, policies, and the engine that enforces them."""
