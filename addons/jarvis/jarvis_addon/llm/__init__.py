"""The bundled local language model: a llama.cpp server behind the add-on's authenticated API.

model.py picks the GGUF file, server.py runs llama.cpp (xllamacpp) on loopback, proxy.py forwards
OpenAI-compatible requests to it, service.py ties them together for the worker and the API.
"""
