"""The buddy target."""
