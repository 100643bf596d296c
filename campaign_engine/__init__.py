"""campaign-engine: bulk outbound phone campaigns through the Vocobase V2 voice-AI API."""

__version__ = "0.1.0"
