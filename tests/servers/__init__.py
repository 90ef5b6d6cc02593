"""Real model servers for the backend tests: a vLLM environment and a fault-injecting proxy."""
