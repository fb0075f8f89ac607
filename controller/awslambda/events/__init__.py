"""Lambda's asynchronous invocation and event sources.

``async_queue`` is what Invoke (``InvocationType=Event``) and SNS hand events to; the ``worker`` runs
them through the invocation engine with AWS's retries, event age and destinations; ``invoke_config``
serves the Put/Get/Update/Delete/ListFunctionEventInvokeConfig operations, ``mappings`` the event source
mappings whose ``sqs_poller`` feeds queues' messages to functions, and ``sns_source`` is SNS's ``lambda``
protocol. ``runtime`` starts and stops the background threads (``cloud.lambda_events``).
"""
