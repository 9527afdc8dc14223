"""The one door to Label Studio: its HTTP API (client), its JSON formats (codec), the embedded server (studio)."""
