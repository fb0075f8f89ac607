"""ssmmessages: Session Manager's data channels, the websockets a session's client and agent both open.

AWS's clients (the session-manager-plugin, the ``ssm-session`` library) and agents exchange binary
AgentMessages (:mod:`controller.ssmmessages.agent_message`) through the service, which relays them
(:mod:`controller.ssmmessages.channels`) on a websocket listener of its own (:mod:`controller.ssmmessages.listener`:
cheroot's WSGI cannot upgrade a connection).
"""
