"""Model-driven fuzzing of the API: inputs generated from botocore's shapes, and raw malformed requests.

Pure generators only (Hypothesis strategies, request specs); the HTTP side is in
``tests/e2e/test_fuzz_api.py``.
"""
