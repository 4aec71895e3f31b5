"""Bundled adapters: carriers (``twilio``, ``local``) and engines (``offline``, ``openai``)."""
